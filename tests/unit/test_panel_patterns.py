"""The state -> LED table (pure): DESIGN section 7, the RGB colours, the mic-live rule."""

from __future__ import annotations

import math

import pytest

from alo_edge.panel.patterns import (
    AUTH_ERROR_COLOUR,
    AUTH_ERROR_PATTERN,
    DEVICE_MISSING_COLOUR,
    DEVICE_MISSING_PATTERN,
    STATE_COLOURS,
    STATUS_PATTERNS,
    LedPattern,
    blink,
    mic_live,
    state_colour,
    status_pattern,
)
from alo_edge.session.states import ConnectionState

S = ConnectionState


def test_every_connection_state_has_a_status_pattern_and_a_colour() -> None:
    for state in S:
        assert isinstance(status_pattern(state), LedPattern), state
        assert state in STATE_COLOURS, state
    assert set(STATUS_PATTERNS) == set(S)


@pytest.mark.parametrize(
    ("state", "name", "hz", "duty"),
    [
        (S.NOT_CONNECTED, "off", 0.0, 0.0),
        (S.DISCONNECTED, "off", 0.0, 0.0),
        (S.ACQUIRING_ACCESS, "blink 2 Hz", 2.0, 0.5),
        (S.CONNECTING, "blink 2 Hz", 2.0, 0.5),
        (S.CONNECTED, "on", 0.0, 1.0),
        (S.RECONNECT_PENDING, "blink 0.5 Hz", 0.5, 0.5),
        (S.ERROR, "blink 5 Hz", 5.0, 0.5),
    ],
)
def test_status_patterns_follow_the_design_table(
    state: ConnectionState, name: str, hz: float, duty: float
) -> None:
    pattern = status_pattern(state)
    assert pattern.name == name
    assert pattern.frequency == pytest.approx(hz)
    assert pattern.duty == pytest.approx(duty)


def test_auth_failure_is_a_double_blink_every_two_seconds_while_waiting() -> None:
    for state in (S.ERROR, S.RECONNECT_PENDING):
        assert status_pattern(state, auth_failed=True) is AUTH_ERROR_PATTERN
        assert state_colour(state, auth_failed=True) is AUTH_ERROR_COLOUR
    assert AUTH_ERROR_PATTERN.name == "double blink every 2 s"
    assert AUTH_ERROR_PATTERN.period == pytest.approx(2.0)
    assert AUTH_ERROR_PATTERN.pulses == 2
    # Trying again is trying again: the attempt itself shows as any attempt does.
    assert status_pattern(S.ACQUIRING_ACCESS, auth_failed=True).name == "blink 2 Hz"
    assert status_pattern(S.CONNECTED, auth_failed=True).name == "on"


def test_a_missing_camera_shows_a_triple_blink_in_cyan_while_the_session_waits() -> None:
    for state in (S.ERROR, S.RECONNECT_PENDING):
        assert status_pattern(state, device_missing=True) is DEVICE_MISSING_PATTERN
        assert state_colour(state, device_missing=True) is DEVICE_MISSING_COLOUR
    assert DEVICE_MISSING_PATTERN.name == "triple blink every 2 s"
    assert (DEVICE_MISSING_PATTERN.period, DEVICE_MISSING_PATTERN.pulses) == (2.0, 3)
    assert DEVICE_MISSING_COLOUR.rgb == (0.0, 1.0, 1.0)
    assert status_pattern(S.ACQUIRING_ACCESS, device_missing=True).name == "blink 2 Hz"


def test_patterns_are_told_apart_by_rhythm_alone() -> None:
    patterns = {*STATUS_PATTERNS.values(), AUTH_ERROR_PATTERN, DEVICE_MISSING_PATTERN}
    rhythms = {(p.frequency, p.duty, p.pulses, p.steady and p.duty) for p in patterns}
    assert len(rhythms) == len(patterns)


def test_blinks_start_lit_so_a_change_is_visible_at_once() -> None:
    for pattern in (*STATUS_PATTERNS.values(), AUTH_ERROR_PATTERN, DEVICE_MISSING_PATTERN):
        if not pattern.steady:
            assert pattern.level_at(0.0)[0] is True, pattern.name


def test_level_at_walks_a_double_blink() -> None:
    pattern = AUTH_ERROR_PATTERN  # on .2, off .2, on .2, off 1.4
    expected = [
        (0.0, True, 0.2),
        (0.1, True, 0.1),
        (0.2, False, 0.2),
        (0.45, True, 0.15),
        (0.6, False, 1.4),
        (1.9, False, 0.1),
        (2.05, True, 0.15),  # the next cycle
        (20.3, False, 0.1),
    ]
    for elapsed, lit, remaining in expected:
        got_lit, got_remaining = pattern.level_at(elapsed)
        assert got_lit is lit, elapsed
        assert got_remaining == pytest.approx(remaining), elapsed


def test_steady_patterns_never_change() -> None:
    assert status_pattern(S.CONNECTED).level_at(1e6) == (True, math.inf)
    assert status_pattern(S.DISCONNECTED).level_at(0.0) == (False, math.inf)


def test_blink_is_symmetric() -> None:
    pattern = blink(4.0)
    assert pattern.name == "blink 4 Hz"
    assert pattern.segments == ((True, 0.125), (False, 0.125))


def test_rgb_colours_per_state() -> None:
    assert {state: colour.name for state, colour in STATE_COLOURS.items()} == {
        S.NOT_CONNECTED: "off",
        S.ACQUIRING_ACCESS: "blue",
        S.CONNECTING: "blue",
        S.CONNECTED: "green",
        S.DISCONNECTED: "off",
        S.ERROR: "red",
        S.RECONNECT_PENDING: "amber",
    }
    assert STATE_COLOURS[S.RECONNECT_PENDING].rgb == (1.0, 0.5, 0.0)
    assert AUTH_ERROR_COLOUR.rgb == (1.0, 0.0, 1.0)


def test_mic_led_is_lit_exactly_while_the_far_end_hears_the_microphone() -> None:
    for state in S:
        assert mic_live(state, muted=False) is (state is S.CONNECTED)
        assert mic_live(state, muted=True) is False
    assert mic_live(S.CONNECTED, muted=False, has_microphone=False) is False
