"""The bench's measurement code (pure): patterns and follow lag from recorded edges."""

from __future__ import annotations

import pytest

from alo_edge.panel.patterns import AUTH_ERROR_PATTERN, LedPattern, status_pattern
from alo_edge.session.states import ConnectionState
from alo_edge.tools.hil_bench.measure import (
    StateMark,
    follow_lag,
    measure_pattern,
    pattern_matches,
)
from alo_edge.tools.hil_bench.wiring import Limits

S = ConnectionState


def play(
    pattern: LedPattern, start: float, seconds: float, delay: float = 0.0
) -> list[tuple[float, bool]]:
    """The edges an LED playing ``pattern`` from ``start`` (late by ``delay``) would record."""
    edges = [(0.0, False)]
    at = start
    while at < start + seconds:
        lit, remaining = pattern.level_at(at - start)
        if lit != edges[-1][1]:
            edges.append((at + delay, lit))
        at += remaining
    return edges


@pytest.mark.parametrize("state", [S.ACQUIRING_ACCESS, S.ERROR, S.RECONNECT_PENDING])
def test_blinks_are_measured_as_designed(state: ConnectionState) -> None:
    pattern = status_pattern(state)
    edges = play(pattern, 10.0, 5.0)
    measured = measure_pattern(edges, 9.99, 15.0)
    assert measured.frequency == pytest.approx(pattern.frequency)
    assert measured.duty == pytest.approx(0.5)
    assert measured.pulses == 1
    assert pattern_matches(measured, pattern, Limits()) == (True, "")


def test_double_blink_is_one_cycle_of_two_pulses() -> None:
    edges = play(AUTH_ERROR_PATTERN, 1.0, 4.5)
    measured = measure_pattern(edges, 0.99, 5.5)
    assert (measured.frequency, measured.pulses, measured.cycles) == (pytest.approx(0.5), 2, 2)
    assert measured.duty == pytest.approx(0.2)
    # An even 1 Hz blink has the same edges per second but is told apart.
    even = measure_pattern(play(LedPattern("1 Hz", ((True, 0.5), (False, 0.5))), 1.0, 4.5), 1, 5)
    ok, why = pattern_matches(even, AUTH_ERROR_PATTERN, Limits())
    assert not ok
    assert why.startswith("frequency off")


def test_steady_levels() -> None:
    assert measure_pattern([(0.0, True)], 1.0, 2.0).describe() == "on"
    ok, why = pattern_matches(
        measure_pattern(play(status_pattern(S.ERROR), 1, 1), 1, 2),
        status_pattern(S.CONNECTED),
        Limits(),
    )
    assert (ok, why) == (False, "the LED changed; expected steady")


def test_follow_lag_is_the_worst_delay_behind_the_states() -> None:
    marks = [
        StateMark(10.0, S.CONNECTING, status_pattern(S.CONNECTING)),
        StateMark(10.6, S.CONNECTED, status_pattern(S.CONNECTED)),
    ]
    on_time = [(0.0, False), (10.0, True), (10.25, False), (10.5, True)]
    assert follow_lag(marks, on_time, 11.0) <= 0.004
    late = [(0.0, False), (10.03, True), (10.28, False), (10.53, True)]
    assert follow_lag(marks, late, 11.0) == pytest.approx(0.03, abs=0.004)
    never = [(0.0, False)]
    assert follow_lag(marks, never, 12.0) == float("inf")
