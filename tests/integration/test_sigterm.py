"""SIGTERM (systemctl stop): the device leaves the channel, tells the server, exits 0 in time."""

from __future__ import annotations

import signal
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.helpers import (
    LabProcess,
    Proc,
    device_config,
    label,
    receiving,
    run_cli,
    session_events,
    state_is,
)

pytestmark = pytest.mark.integration

USER = "door-1"
CHANNEL = "porch"


def test_sigterm_leaves_the_channel_and_exits_zero_within_3_s(
    lab: LabProcess, start_device: Callable[..., Proc], tmp_path: Path
) -> None:
    # The token comes from the lab's own /v1/auth, through the documented command.
    token_file = tmp_path / "token"
    minted = run_cli(
        "token",
        "--lab",
        lab.url,
        "--api-key-file",
        str(lab.state_dir / "api_key"),
        "--user",
        USER,
        "--out",
        str(token_file),
    )
    assert minted.returncode == 0, minted.stderr
    assert minted.stdout == ""
    assert token_file.read_text(encoding="utf-8").strip().count(".") == 2

    device = start_device(
        device_config(
            user_id=USER,
            channel=CHANNEL,
            token_file=token_file,
            access_url=f"{lab.url}/v1/video/access",
        )
    )
    device.wait_for(state_is("CONNECTED"), what="CONNECTED")
    lab.wait_for_channel(CHANNEL, receiving)

    signalled = time.monotonic()
    device.signal(signal.SIGTERM)
    code = device.wait(timeout=3.0)
    took = time.monotonic() - signalled
    assert code == 0, device.stderr.tail()
    assert took < 3.0

    report = lab.channels()[CHANNEL]
    assert report["deletes"] == 1, report
    assert report["connected"] is False, report
    assert report["sessions"] == 1, report

    events = session_events(device.events.snapshot())
    assert [label(e) for e in events[-2:]] == [
        "onConnectionChange:DISCONNECTED",
        "onDisconnect:DISCONNECTED",
    ]
    assert [label(e) for e in events] == [
        "onConnectionChange:ACQUIRING_ACCESS",
        "onConnectionChange:CONNECTING",
        "onConnectionChange:CONNECTED",
        "onConnectionChange:DISCONNECTED",
        "onDisconnect:DISCONNECTED",
    ]
    # The token never reaches a log line.
    token = token_file.read_text(encoding="utf-8").strip()
    assert all(token not in line for line in device.stderr.lines)
