"""The device against Meetecho's real simple-whip-server in front of Debian's Janus.

That server keeps a publisher whose DELETE was lost for ever and answers every later
POST with 403 "Endpoint ID already in use". On 73a265e one lost DELETE (an outage
while the device was leaving) locked the device out for good, reported as an access
denial at the 30 s auth cap with the server's reason hidden. Now the undelivered
DELETE is kept and sent before the next POST, and a 403 "in use" is a conflict that
names the server's reason.

Everything runs in the rig's namespace (Janus, the WHIP server, the device); the
outage is an nftables rule there dropping the device's traffic to the WHIP server and
all media (UDP), so the DELETE is swallowed as a real network would swallow it.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import STEP, Event, Proc, alo_edge_command, state_is, write_toml
from tests.janus.conftest import MEASURED
from tests.janus.rig import ADDRESS, ROOM, JanusRig
from tests.janus.whip_server import JANUS_SESSION_TIMEOUT, PORT, WhipServer, unavailable
from tests.netns import node_tag, sh

pytestmark = pytest.mark.skipif(unavailable() is not None, reason=str(unavailable()))

ENDPOINT = "front-door"
#: The endpoint's bearer (simple-whip-server compares it as a plain string).
ENDPOINT_TOKEN = "whip-endpoint-token-0123456789"
#: The outage: the device's packets to the WHIP server (at 127.0.0.2; the test asks the
#: server's REST API at 127.0.0.1), and all media, are dropped.
OUTAGE = f"""
table inet alo_outage {{
    chain input {{
        type filter hook input priority 0; policy accept;
        ip daddr {ADDRESS} tcp dport {PORT} drop
        meta l4proto udp drop
    }}
}}
"""


@pytest.fixture
def whip_rig(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[JanusRig]:
    """The Janus rig with a session timeout longer than the WHIP server's keep-alive."""
    made = JanusRig(tmp_path, node_tag(request), session_timeout=JANUS_SESSION_TIMEOUT)
    try:
        made.create()
        made.start_janus()
        yield made
    finally:
        made.close()


@pytest.fixture
def whip_server(whip_rig: JanusRig, tmp_path: Path) -> WhipServer:
    server = WhipServer(whip_rig, tmp_path)
    server.start()
    return server


def start_device(
    rig: JanusRig, tmp_path: Path, url: str, name: str = "device", max_delay: float = 2.0
) -> Proc:
    token_file = tmp_path / f"{name}-token"
    token_file.write_text(ENDPOINT_TOKEN + "\n", encoding="utf-8")
    token_file.chmod(0o600)
    document: dict[str, dict[str, Any]] = {
        "device": {"user_id": "door-1", "name": "Front door"},
        "alo": {"url": url, "channel": ENDPOINT, "token_file": str(token_file)},
        "network": {"host_addresses": [ADDRESS]},
        "video": {"source": "synthetic", "width": 320, "height": 240, "fps": 30},
        "audio": {"source": "synthetic"},
        # A short liveness timeout notices the outage at once; the cap keeps retries brisk.
        "reconnect": {"initial_delay": 0.5, "max_delay": max_delay, "liveness_timeout": 2.0},
        "status": {"listen": ""},
    }
    config = write_toml(tmp_path / f"{name}.toml", document)
    return rig.start([*alo_edge_command(), "run", "-c", str(config), "--events", "-"], name=name)


def outage(rig: JanusRig, on: bool) -> None:
    if on:
        sh("ip", "netns", "exec", rig.namespace, "nft", "-f", "-", stdin=OUTAGE)
    else:
        sh("ip", "netns", "exec", rig.namespace, "nft", "delete", "table", "inet", "alo_outage")


def error_with(text: str) -> Any:
    def match(event: Event) -> bool:
        return state_is("ERROR")(event) and text in event["detail"].get("message", "")

    return match


def test_a_lost_delete_is_delivered_when_the_network_is_back_and_the_device_publishes_again(
    whip_rig: JanusRig, whip_server: WhipServer, tmp_path: Path
) -> None:
    url = whip_server.create_endpoint(ENDPOINT, ROOM, ENDPOINT_TOKEN)
    device = start_device(whip_rig, tmp_path, url)
    device.wait_for(state_is("CONNECTED"), what="CONNECTED through simple-whip-server")
    assert [e["enabled"] for e in whip_server.endpoints()] == [True]

    outage(whip_rig, True)
    device.wait_for(state_is("ERROR"), what="ERROR once the media path is dead")
    # The DELETE of that session went into the outage; the next attempt fails too.
    line = device.stderr.wait_line(lambda text: "WHIP DELETE" in text, STEP)
    assert line is not None, device.stderr.tail()
    assert "not delivered" in line
    device.wait_for(state_is("ERROR"), timeout=2 * STEP, what="an attempt during the outage")
    # The server still holds the old publisher: a POST now would be refused as "in use".
    assert [e["enabled"] for e in whip_server.endpoints()] == [True]

    outage(whip_rig, False)
    cleared = time.monotonic()
    device.wait_for(state_is("CONNECTED"), timeout=3 * STEP, what="CONNECTED after the outage")
    healed = time.monotonic() - cleared
    MEASURED["simple-whip-server, lost DELETE"] = f"CONNECTED again {healed:.1f} s after the outage"
    refused = [e for e in device.events.snapshot() if error_with("HTTP 403")(e)]
    assert refused == [], "a POST was refused: the old session was not DELETEd first"
    delivered = device.stderr.wait_line(lambda text: "left behind earlier is DELETEd" in text, 1)
    assert delivered is not None, device.stderr.tail()
    device.signal(signal.SIGTERM)
    assert device.wait(STEP) == 0
    # SIGTERM's DELETE reached the server: the endpoint is free for the next publisher.
    assert [e["enabled"] for e in whip_server.endpoints()] == [False]


def test_an_endpoint_in_use_is_a_conflict_with_the_servers_reason_not_an_auth_failure(
    whip_rig: JanusRig, whip_server: WhipServer, tmp_path: Path
) -> None:
    url = whip_server.create_endpoint(ENDPOINT, ROOM, ENDPOINT_TOKEN)
    first = start_device(whip_rig, tmp_path, url, name="first")
    first.wait_for(state_is("CONNECTED"), what="the first device CONNECTED")
    first.kill()  # SIGKILL: no DELETE at all; the server keeps the publisher

    # With a 30 s cap, an auth failure would wait 30 s; a conflict starts from 0.5 s.
    second = start_device(whip_rig, tmp_path, url, name="second", max_delay=30.0)
    error = second.wait_for(state_is("ERROR"), what="the second device refused")
    message = error["detail"]["message"]
    assert "HTTP 403: Endpoint ID already in use" in message
    assert "earlier session" in message
    assert "denied access" not in message  # 73a265e: an auth failure, the reason hidden
    # Retried at the normal pace (0.5 s, 1 s ...), not at the auth cap.
    countdown = second.wait_for(state_is("RECONNECT_PENDING"), what="the countdown")
    assert countdown["detail"]["pendingRestartSeconds"] <= 1
    assert second.running
