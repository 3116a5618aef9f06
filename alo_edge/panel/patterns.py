"""What the panel shows for each connection state (pure data and pure functions).

An installer reads the device's health from one LED across a hallway, so every
state has exactly one pattern and the patterns are far apart in rhythm:

    ======================================  ===========================  =========
    state                                   status LED                   RGB LED
    ======================================  ===========================  =========
    NOT_CONNECTED, DISCONNECTED             off                          off
    ACQUIRING_ACCESS, CONNECTING            blink 2 Hz                   blue
    CONNECTED                               on                           green
    RECONNECT_PENDING                       blink 0.5 Hz                 amber
    ERROR                                   blink 5 Hz                   red
    auth error (ERROR, RECONNECT_PENDING)   double blink every 2 s       magenta
    camera missing (ERROR, RECONNECT_P.)    triple blink every 2 s       cyan
    ======================================  ===========================  =========

The optional RGB LED shows the state's colour with the status LED's rhythm, so one
look tells both. The mic-live LED is lit exactly while the microphone is heard.
No I/O here: :mod:`alo_edge.panel.gpio` plays these patterns on real pins.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from alo_edge.session.states import ConnectionState

S = ConnectionState
#: Segment boundaries closer than this count as reached (float sums are not exact).
_ROUNDING = 1e-9


@dataclass(frozen=True)
class LedPattern:
    """A repeating sequence of ``(lit, seconds)`` segments, or one steady level.

    A steady pattern has a single segment with an infinite duration. Blinking
    patterns start with their first lit segment, so a state change is visible at once.
    """

    name: str
    segments: tuple[tuple[bool, float], ...]

    @property
    def steady(self) -> bool:
        """True for ``on`` and ``off``: nothing to time."""
        return len(self.segments) == 1

    @property
    def period(self) -> float:
        """Seconds of one cycle (infinite for a steady pattern)."""
        return sum(seconds for _, seconds in self.segments)

    @property
    def frequency(self) -> float:
        """Cycles per second (0 for a steady pattern)."""
        return 0.0 if self.steady else 1.0 / self.period

    @property
    def duty(self) -> float:
        """The lit share of a cycle, 0..1."""
        if self.steady:
            return 1.0 if self.segments[0][0] else 0.0
        return sum(seconds for lit, seconds in self.segments if lit) / self.period

    @property
    def pulses(self) -> int:
        """Lit segments per cycle: 1 for a blink, 2 for a double blink."""
        return sum(1 for lit, _ in self.segments if lit)

    def level_at(self, elapsed: float) -> tuple[bool, float]:
        """``(lit, seconds until the level may change)`` at ``elapsed`` seconds into the pattern.

        The player asks this after every wake-up instead of counting segments, so a
        late wake-up never makes the rhythm drift.
        """
        if self.steady:
            return self.segments[0][0], math.inf
        position = max(elapsed, 0.0) % self.period
        end = 0.0
        for lit, seconds in self.segments:
            end += seconds
            # A wake-up a rounding error short of a boundary belongs to the next segment.
            if position < end - _ROUNDING:
                return lit, end - position
        # The very end of a cycle (within rounding): the next cycle starts now.
        return self.segments[0][0], self.segments[0][1]


def blink(hz: float, name: str | None = None) -> LedPattern:
    """A symmetric blink at ``hz`` cycles per second (lit half of each cycle)."""
    half = 0.5 / hz
    return LedPattern(name or f"blink {hz:g} Hz", ((True, half), (False, half)))


OFF = LedPattern("off", ((False, math.inf),))
ON = LedPattern("on", ((True, math.inf),))
BLINK_2_HZ = blink(2.0)
BLINK_HALF_HZ = blink(0.5)
BLINK_5_HZ = blink(5.0)
#: Two short flashes, then a long pause: unlike any even blink, even from afar.
DOUBLE_BLINK = LedPattern(
    "double blink every 2 s", ((True, 0.2), (False, 0.2), (True, 0.2), (False, 1.4))
)
AUTH_ERROR_PATTERN = DOUBLE_BLINK
#: Three short flashes, then a pause: a capture device is missing (the session waits for it).
TRIPLE_BLINK = LedPattern(
    "triple blink every 2 s",
    ((True, 0.2), (False, 0.2), (True, 0.2), (False, 0.2), (True, 0.2), (False, 1.0)),
)
DEVICE_MISSING_PATTERN = TRIPLE_BLINK

#: The status LED for each connection state (DESIGN section 7); a test checks it is total.
STATUS_PATTERNS: dict[ConnectionState, LedPattern] = {
    S.NOT_CONNECTED: OFF,
    S.ACQUIRING_ACCESS: BLINK_2_HZ,
    S.CONNECTING: BLINK_2_HZ,
    S.CONNECTED: ON,
    S.DISCONNECTED: OFF,
    S.ERROR: BLINK_5_HZ,
    S.RECONNECT_PENDING: BLINK_HALF_HZ,
}

#: States in which an authentication failure (or a missing camera) replaces the pattern: the
#: device is waiting for a new token (or the camera), and a person should see that, not a
#: network fault.
AUTH_STATES = frozenset({S.ERROR, S.RECONNECT_PENDING})


@dataclass(frozen=True)
class Colour:
    """An RGB LED colour; each channel 0..1 (PWM duty)."""

    name: str
    red: float
    green: float
    blue: float

    @property
    def rgb(self) -> tuple[float, float, float]:
        """The channels as gpiozero's ``RGBLED.color`` takes them."""
        return (self.red, self.green, self.blue)


BLACK = Colour("off", 0.0, 0.0, 0.0)
BLUE = Colour("blue", 0.0, 0.0, 1.0)
GREEN = Colour("green", 0.0, 1.0, 0.0)
AMBER = Colour("amber", 1.0, 0.5, 0.0)
RED = Colour("red", 1.0, 0.0, 0.0)
MAGENTA = Colour("magenta", 1.0, 0.0, 1.0)
CYAN = Colour("cyan", 0.0, 1.0, 1.0)
AUTH_ERROR_COLOUR = MAGENTA
DEVICE_MISSING_COLOUR = CYAN

#: The RGB LED's colour for each connection state.
STATE_COLOURS: dict[ConnectionState, Colour] = {
    S.NOT_CONNECTED: BLACK,
    S.ACQUIRING_ACCESS: BLUE,
    S.CONNECTING: BLUE,
    S.CONNECTED: GREEN,
    S.DISCONNECTED: BLACK,
    S.ERROR: RED,
    S.RECONNECT_PENDING: AMBER,
}


def status_pattern(
    state: ConnectionState, auth_failed: bool = False, device_missing: bool = False
) -> LedPattern:
    """The status LED's pattern for ``state``; ``auth_failed`` when the last attempt was
    refused, ``device_missing`` when it could not open a capture device."""
    if auth_failed and state in AUTH_STATES:
        return AUTH_ERROR_PATTERN
    if device_missing and state in AUTH_STATES:
        return DEVICE_MISSING_PATTERN
    return STATUS_PATTERNS[state]


def state_colour(
    state: ConnectionState, auth_failed: bool = False, device_missing: bool = False
) -> Colour:
    """The RGB LED's colour for ``state`` (shown with the status pattern's rhythm)."""
    if auth_failed and state in AUTH_STATES:
        return AUTH_ERROR_COLOUR
    if device_missing and state in AUTH_STATES:
        return DEVICE_MISSING_COLOUR
    return STATE_COLOURS[state]


def mic_live(state: ConnectionState, muted: bool, has_microphone: bool = True) -> bool:
    """True when the far end hears the microphone: connected, a microphone, not muted.

    The LED is a privacy promise, so it errs towards "live": it does not wait for
    proof that audio packets flow, only for the session to be up.
    """
    return has_microphone and state is S.CONNECTED and not muted


__all__ = [
    "AUTH_ERROR_COLOUR",
    "AUTH_ERROR_PATTERN",
    "DEVICE_MISSING_COLOUR",
    "DEVICE_MISSING_PATTERN",
    "OFF",
    "ON",
    "STATE_COLOURS",
    "STATUS_PATTERNS",
    "Colour",
    "LedPattern",
    "blink",
    "mic_live",
    "state_colour",
    "status_pattern",
]
