"""The bench's measurements, pure: an LED's rhythm and how closely it followed the states.

Both the real and the virtual bench record a sense pin as ``(monotonic time, lit)`` edges
(see ``instruments.SenseInput``); everything here works on such recordings, so it is
tested with edges computed from the patterns themselves, no pins and no sleeping.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass

from alo_edge.panel.patterns import LedPattern
from alo_edge.session.states import ConnectionState
from alo_edge.tools.hil_bench.wiring import Limits

#: Sampling step of the follow check: the lag it reports has this resolution.
FOLLOW_STEP = 0.002


@dataclass(frozen=True)
class PatternMeasurement:
    """What a sense pin showed in a window: steady, or a rhythm."""

    steady: bool | None  # the level when it never changed, else None
    frequency: float = 0.0  # cycles per second
    duty: float = 0.0  # lit share of a cycle
    pulses: int = 0  # lit segments per cycle
    cycles: int = 0  # complete cycles measured

    def describe(self) -> str:
        """The measurement in words, for the report's "measured" column."""
        if self.steady is not None:
            return "on" if self.steady else "off"
        if not self.cycles:
            return "no complete cycle"
        return f"{self.frequency:.2f} Hz, duty {self.duty:.2f}, {self.pulses} pulse(s)"


def level_at(edges: Sequence[tuple[float, bool]], at: float) -> bool:
    """The level of an edge history at time ``at``."""
    level = edges[0][1]
    for when, lit in edges:
        if when > at:
            break
        level = lit
    return level


def measure_pattern(
    edges: Sequence[tuple[float, bool]], start: float, end: float
) -> PatternMeasurement:
    """Frequency, duty and pulses per cycle of the rhythm on a sense pin in [start, end].

    A cycle starts at a rising edge that follows a long dark gap (at least 3/4 of the
    longest one seen), which makes a double blink one cycle of two pulses while an even
    blink is one pulse per cycle. Only complete cycles count.
    """
    changes = [(t, lit) for t, lit in edges if start < t <= end]
    changes = [c for i, c in enumerate(changes) if i == 0 or c[1] != changes[i - 1][1]]
    if not changes:
        level = level_at(edges, start)
        return PatternMeasurement(steady=level, duty=1.0 if level else 0.0)
    rises = [t for t, lit in changes if lit]
    falls = [t for t, lit in changes if not lit]
    gaps = {rise: rise - max((f for f in falls if f < rise), default=-math.inf) for rise in rises}
    finite = [g for g in gaps.values() if math.isfinite(g)]
    longest = max(finite, default=0.0)
    starts = [r for r in rises if not math.isfinite(gaps[r]) or gaps[r] >= 0.75 * longest]
    if len(starts) < 2:
        return PatternMeasurement(steady=None)
    periods = [b - a for a, b in itertools.pairwise(starts)]
    lit_time = 0.0
    for a, b in itertools.pairwise(starts):
        lit_time += _lit_time(changes, a, b)
    pulses = [sum(1 for r in rises if a <= r < b) for a, b in itertools.pairwise(starts)]
    total = starts[-1] - starts[0]
    return PatternMeasurement(
        steady=None,
        frequency=len(periods) / total,
        duty=lit_time / total,
        pulses=max(set(pulses), key=pulses.count),
        cycles=len(periods),
    )


def _lit_time(changes: Sequence[tuple[float, bool]], start: float, end: float) -> float:
    lit_since: float | None = None
    total = 0.0
    for when, lit in changes:
        if when < start:
            lit_since = when if lit else None
            continue
        if when >= end:
            break
        if lit and lit_since is None:
            lit_since = when
        elif not lit and lit_since is not None:
            total += when - lit_since
            lit_since = None
    if lit_since is not None:
        total += end - max(lit_since, start)
    return total


def pattern_matches(
    measured: PatternMeasurement, expected: LedPattern, limits: Limits
) -> tuple[bool, str]:
    """Whether a measurement shows ``expected``, and why not."""
    if expected.steady:
        want = expected.segments[0][0]
        if measured.steady is None:
            return False, "the LED changed; expected steady"
        return measured.steady == want, "" if measured.steady == want else "wrong level"
    if measured.steady is not None or not measured.cycles:
        return False, "no complete cycle"
    off_frequency = abs(measured.frequency - expected.frequency) / expected.frequency
    if off_frequency > limits.frequency_tolerance:
        return False, f"frequency off by {off_frequency:.0%}"
    if abs(measured.duty - expected.duty) > limits.duty_tolerance:
        return False, f"duty {measured.duty:.2f}, expected {expected.duty:.2f}"
    if measured.pulses != expected.pulses:
        return False, f"{measured.pulses} pulse(s) per cycle, expected {expected.pulses}"
    return True, ""


@dataclass(frozen=True)
class StateMark:
    """A connection state change as the bench saw the event, and the pattern it calls for."""

    at: float
    state: ConnectionState
    pattern: LedPattern


def follow_lag(
    marks: Sequence[StateMark],
    edges: Sequence[tuple[float, bool]],
    end: float,
    *,
    step: float = FOLLOW_STEP,
    give_up: float = 1.0,
) -> float:
    """The longest the LED lagged behind what the session's states called for, in seconds.

    At every ``step`` from the first state change to ``end``, the LED's level must
    equal the expected level of some moment at most the returned lag earlier. A
    pattern repeated by consecutive states (the RECONNECT_PENDING countdown) keeps
    its rhythm, as the panel does. A lag beyond ``give_up`` seconds is reported as
    infinite (the LED did not follow at all).
    """
    if not marks:
        return 0.0
    starts: list[tuple[float, LedPattern]] = []
    for mark in marks:
        if not starts or starts[-1][1] != mark.pattern:
            starts.append((mark.at, mark.pattern))
    count = int((end - starts[0][0]) / step) + 1
    times = [starts[0][0] + i * step for i in range(count)]
    expected: list[bool] = []
    index = 0
    for t in times:
        while index + 1 < len(starts) and starts[index + 1][0] <= t:
            index += 1
        begun, pattern = starts[index]
        expected.append(pattern.level_at(t - begun)[0])
    # Before the first state change the LED showed whatever it showed; that is not judged.
    before = level_at(edges, times[0] - step)
    worst = 0.0
    edge_index = 0
    level = edges[0][1]
    for i, t in enumerate(times):
        while edge_index < len(edges) and edges[edge_index][0] <= t:
            level = edges[edge_index][1]
            edge_index += 1
        back = i
        lowest = max(i - int(give_up / step), 0)
        while back >= lowest and expected[back] != level:
            back -= 1
        if back >= lowest:
            lag = (i - back) * step
        elif lowest == 0 and level == before:
            lag = (i + 1) * step
        else:
            lag = math.inf
        worst = max(worst, lag)
    return worst
