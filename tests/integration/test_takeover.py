"""Two devices signed in as the same user: each says which device took its session.

The lab's channel takes one publisher, so a second device replaces the first (which
then reconnects and replaces the second, and so on). The replaced device must say
what happened in its ERROR, in /status and in its log (the journal under systemd),
and only then: a session the server ends for another reason keeps the plain reason.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import (
    STEP,
    Event,
    LabProcess,
    Proc,
    device_config,
    free_port,
    http_json,
    state_is,
)

pytestmark = pytest.mark.integration

USER = "door-42"
CHANNEL = "front-door"
TAKEN = f"another device signed in as {USER} took this session"


def error_saying(text: str) -> Callable[[Event], bool]:
    def match(event: Event) -> bool:
        return state_is("ERROR")(event) and text in event["detail"].get("message", "")

    return match


def door(lab: LabProcess, tmp_path: Path, status_port: int | None = None) -> dict[str, Any]:
    token_file = tmp_path / "token"
    token_file.write_text(lab.mint(USER) + "\n", encoding="utf-8")
    document = device_config(
        user_id=USER,
        channel=CHANNEL,
        token_file=token_file,
        access_url=f"{lab.url}/v1/video/access",
    )
    if status_port is not None:
        document["status"] = {"listen": f"127.0.0.1:{status_port}"}
    return document


def test_a_device_whose_session_another_took_says_so(
    lab: LabProcess, start_device: Callable[..., Proc], tmp_path: Path
) -> None:
    port = free_port()
    first = start_device(door(lab, tmp_path, port), name="first")
    first.wait_for(state_is("CONNECTED"), what="the first device CONNECTED")

    second = start_device(door(lab, tmp_path), name="second")
    error = first.wait_for(error_saying(TAKEN), 2 * STEP, "the first device's takeover ERROR")
    assert error["detail"]["message"] == TAKEN

    # /status and the log (the journal's MESSAGE under systemd) say the same.
    code, status = http_json("GET", f"http://127.0.0.1:{port}/status")
    assert code == 200, status
    assert status["lastError"] == TAKEN
    logged = first.stderr.wait_line(lambda line: f"connection failed: {TAKEN}" in line, STEP)
    assert logged is not None, first.stderr.tail()

    # The first device reconnects at once and takes the channel back, often before the
    # second one's media came up: the second says so too, whichever way it was ended.
    second.wait_for(error_saying(TAKEN), 3 * STEP, "the second device's takeover ERROR")


def test_a_session_the_server_ends_for_another_reason_is_not_called_a_takeover(
    lab: LabProcess, start_device: Callable[..., Proc], tmp_path: Path
) -> None:
    device = start_device(door(lab, tmp_path))
    device.wait_for(state_is("CONNECTED"), what="CONNECTED")
    lab.kick(CHANNEL)
    error = device.wait_for(state_is("ERROR"), what="ERROR after the kick")
    assert error["detail"]["message"] == "the server ended the session (peer connection closed)"
