"""A device keeps its session alive: a kicked session and a dead server both heal by themselves."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.helpers import (
    STEP,
    Event,
    LabProcess,
    Proc,
    device_config,
    disconnect_is,
    label,
    receiving,
    session_events,
    state_is,
)

pytestmark = pytest.mark.integration

USER = "door-1"
CHANNEL = "front-door"


def connected_device(
    lab: LabProcess,
    start_device: Callable[..., Proc],
    tmp_path: Path,
    reconnect: dict[str, float],
) -> Proc:
    token_file = tmp_path / "token"
    token_file.write_text(lab.mint(USER) + "\n", encoding="utf-8")
    device = start_device(
        device_config(
            user_id=USER,
            channel=CHANNEL,
            token_file=token_file,
            access_url=f"{lab.url}/v1/video/access",
            reconnect=reconnect,
        )
    )
    device.wait_for(state_is("CONNECTED"), what="the first CONNECTED")
    lab.wait_for_channel(CHANNEL, receiving)
    return device


def assert_lost_link_reported(device: Proc) -> Event:
    """ERROR with a message, at once onDisconnect {ERROR}, then the countdown starts."""
    error = device.wait_for(state_is("ERROR"), what="ERROR")
    assert isinstance(error["detail"].get("message"), str)
    assert error["detail"]["message"].strip()
    device.wait_for(state_is("RECONNECT_PENDING"), what="RECONNECT_PENDING")
    events = session_events(device.events.snapshot())
    at = events.index(error)
    assert [label(e) for e in events[at : at + 3]] == [
        "onConnectionChange:ERROR",
        "onDisconnect:ERROR",
        "onConnectionChange:RECONNECT_PENDING",
    ]
    assert disconnect_is("ERROR")(events[at + 1])
    assert events[at + 1]["detail"].get("message") == error["detail"]["message"]
    return error


def test_a_kicked_session_reconnects(
    lab: LabProcess, start_device: Callable[..., Proc], tmp_path: Path
) -> None:
    device = connected_device(lab, start_device, tmp_path, {"liveness_timeout": 3})

    lab.kick(CHANNEL)

    assert_lost_link_reported(device)
    device.wait_for(state_is("CONNECTED"), what="CONNECTED again")
    report = lab.wait_for_channel(CHANNEL, lambda r: r["connected"] and r["sessions"] == 2)
    # Media flows again on the new session: a second of video and audio at least.
    lab.wait_for_channel(
        CHANNEL,
        lambda r: (
            r["framesDecoded"] > report["framesDecoded"] + 30
            and r["audioFrames"] > report["audioFrames"] + 50
        ),
    )
    assert device.running


def test_a_dead_server_is_retried_with_a_countdown_until_it_returns(
    lab: LabProcess, start_device: Callable[..., Proc], tmp_path: Path
) -> None:
    # jitter 0: the waits are exactly 1, 2, 4 s, so the countdown ticks on whole seconds.
    device = connected_device(
        lab,
        start_device,
        tmp_path,
        {"initial_delay": 1, "max_delay": 4, "jitter": 0, "liveness_timeout": 3},
    )

    assert lab.stop() == 0

    error = assert_lost_link_reported(device)
    device.wait_for(
        lambda e: state_is("RECONNECT_PENDING")(e) and e["detail"]["retryCount"] >= 3,
        timeout=2 * STEP,
        what="RECONNECT_PENDING with retryCount 3",
    )
    # Let the retryCount-3 wait run out, so it is complete in the history.
    device.wait_for(
        lambda e: state_is("RECONNECT_PENDING")(e) and e["detail"]["retryCount"] >= 4,
        timeout=2 * STEP,
        what="RECONNECT_PENDING with retryCount 4",
    )

    lab.start()
    device.wait_for(state_is("CONNECTED"), timeout=2 * STEP, what="CONNECTED after the restart")

    history = device.events.snapshot()
    outage = history[device.events.index_of(error) :]
    ticks = [e for e in outage if state_is("RECONNECT_PENDING")(e)]
    waits: dict[int, list[Event]] = {}
    for tick in ticks:
        waits.setdefault(tick["detail"]["retryCount"], []).append(tick)
    assert sorted(waits)[:4] == [1, 2, 3, 4], [label(e) for e in outage]
    counts = [t["detail"]["retryCount"] for t in ticks]
    assert counts == sorted(counts), counts  # retryCount only rises across the outage
    countdowns = {n: [t["detail"]["pendingRestartSeconds"] for t in waits[n]] for n in waits}
    # The waits are 1 s, 2 s, then 4 s (the cap), counting down each second.
    assert countdowns[1] == [1], countdowns
    assert countdowns[2] == [2, 1], countdowns
    assert countdowns[3] == [4, 3, 2, 1], countdowns
    assert countdowns[4][:4] == [4, 3, 2, 1], countdowns
    # From the 2 s wait on, a tick every second: within a wait and from one wait to the next.
    steady = [t["ts"] for t in ticks if t["detail"]["retryCount"] >= 2]
    gaps = [later - earlier for earlier, later in itertools.pairwise(steady)]
    assert gaps, ticks
    assert all(abs(gap - 1.0) <= 0.3 for gap in gaps), gaps
    # Between waits the device really tried again (and failed) rather than idling.
    for retry in (2, 3, 4):
        attempt = next(
            i
            for i, e in enumerate(outage)
            if state_is("ERROR")(e) and e["detail"].get("retryCount") == retry
        )
        assert label(outage[attempt - 1]) in (
            "onConnectionChange:ACQUIRING_ACCESS",
            "onConnectionChange:CONNECTING",
        )
    # The restarted lab (a fresh process: its counters start at zero) receives media again.
    lab.wait_for_channel(CHANNEL, lambda r: r["connected"] and r["sessions"] == 1)
    lab.wait_for_channel(CHANNEL, receiving)
    assert device.running
