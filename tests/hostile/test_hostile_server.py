"""The real device against a hostile server: it stays up, keeps retrying, says what was
wrong, and tells the second host nothing.

One ``alo-edge run`` process meets every case of ``tests/hostile/cases.py`` in a row,
one per connection attempt (each answer is retried with a short backoff), and then a
good answer. ``ALO_HOSTILE_CASES=name,name`` runs only those cases (then the good one),
to look at one at a time.
"""

from __future__ import annotations

import json
import os
import re
import signal
import time
from pathlib import Path

from alo_edge.lab import mint_token
from tests.helpers import (
    STEP,
    LabProcess,
    Proc,
    alo_edge_command,
    device_config,
    free_port,
    http_json,
    record_token_leaks,
    state_is,
    write_toml,
)
from tests.hostile.cases import CHANNEL, URL_KEY, URL_PASSWORD, USER, install, selected
from tests.hostile.conftest import NotifySocket
from tests.hostile.servers import CredentialRecorder, HostileServer

#: The hostile access service's own signing key: the device token is a real JWT, so the
#: suite-wide guard (no JWT in any output) watches it too.
ACCESS_SERVICE_KEY = "the-hostile-access-service-signing-key-0123456789"


def start_device(
    tmp_path: Path, hostile: HostileServer, notify: NotifySocket, status_port: int
) -> Proc:
    token_file = tmp_path / "token"
    token_file.write_text(hostile.user_token + "\n", encoding="utf-8")
    token_file.chmod(0o600)
    document = device_config(
        user_id=USER,
        channel=CHANNEL,
        token_file=token_file,
        access_url=f"{hostile.base}/v1/access",
        reconnect={"initial_delay": 0.1, "max_delay": 0.3, "jitter": 0.0},
    )
    document["status"] = {"listen": f"127.0.0.1:{status_port}"}
    config = write_toml(tmp_path / "device.toml", document)
    env = {**os.environ, "NOTIFY_SOCKET": str(notify.path)}
    command = [*alo_edge_command(), "run", "-c", str(config), "--events", "-"]
    return Proc(command, name="device", env=env)


def test_the_device_outlives_every_hostile_answer_and_tells_another_host_nothing(
    lab: LabProcess,
    hostile: HostileServer,
    recorder: CredentialRecorder,
    notify: NotifySocket,
    tmp_path: Path,
) -> None:
    cases = selected(os.environ.get("ALO_HOSTILE_CASES"))
    install(hostile, cases)
    hostile.user_token = mint_token(ACCESS_SERVICE_KEY, USER, 60, time.time())
    hostile.media_token = lab.mint(USER)
    hostile.closed_port = free_port()
    status_port = free_port()
    device = start_device(tmp_path, hostile, notify, status_port)
    try:
        messages: dict[str, str] = {}
        for case in cases:
            if case.connects:
                device.wait_for(state_is("CONNECTED"), what=f"CONNECTED ({case.name})")
                if case is cases[-1]:
                    break
                lab.kick(CHANNEL)  # the lab ends it: the device leaves and tries again
            error = device.wait_for(state_is("ERROR"), what=f"ERROR for case {case.name!r}")
            messages[case.name] = error["detail"]["message"]
            assert device.running, f"the device exited after case {case.name!r}"
        status_code, status = http_json("GET", f"http://127.0.0.1:{status_port}/status")
        assert status_code == 200
        assert status["state"] == "CONNECTED"
        device.signal(signal.SIGTERM)
        assert device.wait(STEP) == 0
    finally:
        device.kill()
        record_token_leaks("hostile device stderr", device.stderr.lines)
        record_token_leaks("hostile device events", device.events.lines)

    wrong = {
        case.name: messages.get(case.name)
        for case in cases
        if not case.connects and not re.search(case.expect, messages.get(case.name, ""))
    }
    assert wrong == {}, "ERROR messages that do not say what was wrong"
    # One access request per case: every bad answer was retried, none ended the process.
    assert hostile.attempts == len(cases)
    # The bearer still goes home: the good session's DELETE reached the server that made it.
    deletes = [s for s in hostile.seen if s.method == "DELETE"]
    assert [(d.path.startswith(f"/whip/{CHANNEL}/"), d.status) for d in deletes][-1:] == [
        (True, 200)
    ]
    assert all(d.authorization == f"Bearer {hostile.media_token}" for d in deletes)
    # The second host: not one connection, so not one byte of any credential.
    assert recorder.received() == []

    shown = {
        "events": "\n".join(device.events.lines),
        "log": "\n".join(device.stderr.lines),
        "STATUS=": "\n".join(notify.status_lines()),
        "/status": json.dumps(status),
    }
    assert notify.status_lines(), "the device sent no STATUS= at all"
    secrets = {
        "the device token": hostile.user_token,
        "the media token": hostile.media_token,
        "a URL's password": URL_PASSWORD,
        "a URL's query": URL_KEY,
    }
    leaks = [(what, where) for what, s in secrets.items() for where, t in shown.items() if s in t]
    assert leaks == []
    if "url-query-secret" in messages:  # the last error before the good answer
        assert re.search(r"http://127\.0\.0\.1:\d+/whip/hostile\?key=\*\*\*", shown["log"])
        assert "key=***" in shown["STATUS="]
        assert "key=***" in str(status["lastError"])
