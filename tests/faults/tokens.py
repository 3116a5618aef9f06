"""Token faults: a session outlives its token, and the server ends it when the token expires.

The lab issues short-lived tokens at its OAuth 2.0 token endpoint (``--client-token-ttl``)
and ends each WHIP session when the token it was published with expires
(``--end-sessions-at-expiry``). A gate in front of the lab counts the device's token and
access requests. The device (``alo.token_url``) renews its token at 80 % of its life, so
when the lab drops the session it reconnects at once with the renewed token: no 401, no
wait for the token endpoint, no person.
"""

from __future__ import annotations

import time
from typing import Any

from tests.faults.rig import GATE_PORT, FaultRig
from tests.faults.scenarios import FaultResult, _media_flows
from tests.helpers import STEP, state_is


def token_expiry(rig: FaultRig, ttl: int = 10) -> tuple[FaultResult, list[dict[str, Any]]]:
    """Connect with a ``ttl``-second token and let the lab end the session at its expiry.

    ``detect_s``: CONNECTED -> ERROR (the session lived as long as its token);
    ``recover_s``: ERROR -> CONNECTED again. Returns the gate's requests too.
    """
    rig.lab_options = ["--client-token-ttl", str(ttl), "--end-sessions-at-expiry"]
    rig.start_lab()
    rig.start_gate()
    gate = f"http://{rig.net.lab_address}:{GATE_PORT}"
    secret = rig.issue_client_secret()
    result = FaultResult(fault=f"token expires ({ttl} s), server ends the session", duration_s=ttl)
    device = rig.start_device(
        access_url=f"{gate}/v1/video/access",
        token_url=f"{gate}/v1/oauth/token",
        client_secret_file=secret,
    )
    connected = device.wait_for(state_is("CONNECTED"), 2 * STEP, "the first CONNECTED")
    rig.wait_for_channel(lambda r: r["connected"], 2 * STEP)
    result.rss_start_kib = rig.device_health()["rss_kib"]

    error = device.wait_for(state_is("ERROR"), ttl + STEP, "ERROR when the lab ends the session")
    back = device.wait_for(state_is("CONNECTED"), STEP, "CONNECTED again")
    result.detect_s = round(error["ts"] - connected["ts"], 2)
    result.recover_s = round(back["ts"] - error["ts"], 2)
    result.messages.append(str(error["detail"].get("message", "")))
    report = rig.wait_for_channel(lambda r: r["expiredSessions"] >= 1 and r["connected"])
    assert report["sessions"] >= 2, report
    _media_flows(rig)
    result.media_back_s = round(time.time() - error["ts"], 2)
    result.requests_during = len(rig.gate_requests())
    result.alive = device.running
    result.rss_end_kib = rig.device_health()["rss_kib"]
    requests = rig.gate_requests()
    for request in requests:
        request["at"] = round(request["ts"] - error["ts"], 2)  # seconds after the ERROR
    return result, requests
