"""The status LED follows a real session: device and lab over loopback, in one process.

CONNECTED -> the lab stops -> ERROR / RECONNECT_PENDING -> the lab comes back on the same
port with the same API key and secret -> CONNECTED. The status LED is a gpiozero mock
pin; its recorded state changes are compared with the times the session's events fired:
every change the states called for shows on the pin within 100 ms, and the pin never
changes without a state calling for it.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from gpiozero.pins.mock import MockFactory, MockPWMPin

from alo_edge.app import build_panel, build_video
from alo_edge.config import config_from_dict
from alo_edge.events import Event
from alo_edge.lab import LabServer, LabSettings, mint_token
from alo_edge.panel.patterns import LedPattern, status_pattern
from alo_edge.secret_files import write_private_file
from alo_edge.session.states import ConnectionState

pytestmark = pytest.mark.integration

S = ConnectionState
STATUS_PIN, MIC_PIN = 17, 22
FOLLOW = 0.100  # seconds: the LED follows each state change within this
STEP = 10.0


class Timeline:
    """Every onConnectionChange with the monotonic time its listener ran."""

    def __init__(self) -> None:
        self.states: list[tuple[float, ConnectionState, dict[str, Any]]] = []
        self._changed = asyncio.Event()

    def record(self, event: Event) -> None:
        self.states.append((time.monotonic(), S(event.detail["state"]), event.detail))
        self._changed.set()

    async def wait_for(self, predicate: Callable[[ConnectionState, dict[str, Any]], bool]) -> int:
        """Index of the next state (from the next one recorded) matching ``predicate``."""
        start = len(self.states)
        async with asyncio.timeout(STEP):
            while True:
                for index in range(start, len(self.states)):
                    _, state, detail = self.states[index]
                    if predicate(state, detail):
                        return index
                start = len(self.states)
                self._changed.clear()
                await self._changed.wait()


async def pin_reaches(pin: Any, level: int) -> None:
    """Until the mock pin shows ``level``; bounded."""
    async with asyncio.timeout(STEP):
        # A mock pin has no change notification of its own: re-read it every 5 ms.
        while True:
            if pin.state == level:
                return
            await asyncio.sleep(0.005)


def pin_changes(pin: Any, cleared_at: float) -> list[tuple[float, bool]]:
    """The mock pin's history as absolute ``(monotonic time, lit)`` changes."""
    changes = []
    at = cleared_at
    for entry in pin.states[1:]:  # states[0] is the level at clear_states()
        at += entry.timestamp  # each timestamp is the time since the previous change
        changes.append((at, bool(entry.state)))
    return changes


def expected_changes(
    states: list[tuple[float, ConnectionState, dict[str, Any]]], until: float, start_level: bool
) -> list[tuple[float, bool]]:
    """The level changes the states call for, from the design's pattern table."""
    intervals: list[tuple[float, LedPattern]] = []
    for at, state, _ in states:
        pattern = status_pattern(state)  # no auth failures in this test
        if not intervals or intervals[-1][1] != pattern:  # a repeated pattern keeps its rhythm
            intervals.append((at, pattern))
    changes: list[tuple[float, bool]] = []
    level = start_level
    for index, (begun, pattern) in enumerate(intervals):
        ends = intervals[index + 1][0] if index + 1 < len(intervals) else until
        at = begun
        while at < ends:
            lit, remaining = pattern.level_at(at - begun)
            if lit != level:
                changes.append((at, lit))
                level = lit
            at += remaining
    return changes


@pytest.fixture
async def lab() -> AsyncIterator[list[LabServer]]:
    """The lab on a free loopback port; the test may replace it (same port, same secrets)."""
    settings = LabSettings(api_key=secrets.token_urlsafe(24), secret=secrets.token_urlsafe(32))
    server = LabServer(settings)
    await server.start()
    servers = [server]
    try:
        yield servers
    finally:
        for each in servers:
            await each.stop()


async def test_status_led_follows_connected_outage_and_recovery(
    lab: list[LabServer], tmp_path: Path
) -> None:
    first = lab[0]
    settings = first.settings
    port = int(first.url.rsplit(":", 1)[1])
    token_file = tmp_path / "token"
    write_private_file(token_file, mint_token(settings.secret, "door-1", 60.0, time.time()) + "\n")
    config = config_from_dict(
        {
            "device": {"user_id": "door-1"},
            "alo": {
                "access_url": f"{first.url}/v1/video/access",
                "channel": "front",
                "token_file": str(token_file),
            },
            "network": {"host_addresses": ["127.0.0.1"]},
            # A fixed 2 s wait before every retry: long enough for the 0.5 Hz pending
            # blink to show its dark half.
            "reconnect": {"initial_delay": 2.0, "max_delay": 2.0, "jitter": 0.0},
            "video": {"source": "synthetic", "width": 320, "height": 240, "fps": 30},
            "audio": {"source": "synthetic"},
            "gpio": {
                "enabled": True,
                "pin_factory": "mock",
                "status_led": STATUS_PIN,
                "mic_led": MIC_PIN,
            },
        }
    )
    factory = MockFactory(pin_class=MockPWMPin)
    video = build_video(config)
    panel = build_panel(config, pin_factory=factory)
    timeline = Timeline()
    # Added before the panel's listener, so each event time precedes the pin write it causes.
    video.events.add_event_listener("onConnectionChange", timeline.record)
    status = factory.pin(STATUS_PIN)
    try:
        await panel.start(video)
        before = time.monotonic()
        status.clear_states()
        cleared_at = (before + time.monotonic()) / 2  # within microseconds either way
        await video.connect("front")
        await timeline.wait_for(lambda state, _: state is S.CONNECTED)
        await pin_reaches(status, 1)
        assert factory.pin(MIC_PIN).state == 1  # connected, unmuted: the mic is live

        await first.stop()
        await timeline.wait_for(
            lambda s, d: s is S.RECONNECT_PENDING and d["pendingRestartSeconds"] >= 1
        )
        await pin_reaches(status, 0)  # the dark half of the 0.5 Hz blink
        assert factory.pin(MIC_PIN).state == 0

        second = LabServer(LabSettings(api_key=settings.api_key, secret=settings.secret, port=port))
        await second.start()
        lab.append(second)
        await timeline.wait_for(lambda state, _: state is S.CONNECTED)
        await pin_reaches(status, 1)
        ended = time.monotonic()
    finally:
        await video.disconnect()
        for source in video.media_sources:
            source.stop()
        await panel.stop()
        factory.close()

    states = [(at, state, detail) for at, state, detail in timeline.states if at <= ended]
    names = [state.value for _, state, _ in states]
    first_connected = names.index("CONNECTED")
    pending = names.index("RECONNECT_PENDING", first_connected)
    assert "CONNECTED" in names[pending:], names
    assert "ERROR" in names[first_connected:pending], names

    actual = [c for c in pin_changes(status, cleared_at) if c[0] <= ended]
    expected = expected_changes(states, ended, start_level=False)
    assert len(expected) >= 3, expected  # on, off (the pending blink's dark half), on again
    for at, lit in expected:
        shown = [t for t, level in actual if level == lit and at - 0.001 <= t <= at + FOLLOW]
        assert shown, f"the LED did not turn {'on' if lit else 'off'} within 100 ms of {at}"
    for at, lit in actual:
        called = [t for t, level in expected if level == lit and at - FOLLOW <= t <= at + 0.001]
        assert called, f"the LED turned {'on' if lit else 'off'} at {at} with no state calling"
    assert status.state == 0  # and off once the session ended
