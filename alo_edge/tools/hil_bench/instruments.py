"""The bench's instruments: what it measures with, and how it touches the panel.

- :class:`SenseInput`: a sense pin jumpered to one of the panel's LEDs, recording every
  edge with its time (the recordings go to ``measure``);
- :class:`ButtonDrive`: the output jumpered to the panel's button, pressing like a finger;
- :func:`virtual_factory`: gpiozero's MockFactory with those jumpers emulated, so the
  virtual bench runs the same code as the real one;
- :class:`EventLog`: the session's own events with their times, and bounded waits on them.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Callable
from typing import Any, Protocol

from alo_edge.api import AloVideo
from alo_edge.errors import AuthError
from alo_edge.events import Event
from alo_edge.panel.patterns import status_pattern
from alo_edge.session.states import ConnectionState
from alo_edge.tools.hil_bench.measure import StateMark
from alo_edge.tools.hil_bench.wiring import Wiring


class PinFactory(Protocol):
    """A gpiozero pin factory as the bench uses it: handed to gpiozero devices, then closed."""

    def close(self) -> None: ...


class SenseInput:
    """A sense pin jumpered to an LED: records every level change with its time.

    gpiozero calls back on its own thread (real pins) or on the writer's (mock pins),
    so the history is guarded by a lock. ``lit`` already accounts for ``active_high``.
    """

    def __init__(self, factory: PinFactory, pin: int, *, active_high: bool) -> None:
        from gpiozero import DigitalInputDevice

        # Floating input: the jumpered output drives it both ways.
        self._device = DigitalInputDevice(
            pin, pull_up=None, active_state=active_high, pin_factory=factory
        )
        self._lock = threading.Lock()
        self._edges: list[tuple[float, bool]] = [(time.monotonic(), bool(self._device.value))]
        self._device.when_activated = lambda: self._record(True)
        self._device.when_deactivated = lambda: self._record(False)

    def _record(self, lit: bool) -> None:
        with self._lock:
            self._edges.append((time.monotonic(), lit))

    def edges(self) -> list[tuple[float, bool]]:
        """Every ``(monotonic time, lit)`` so far; the first is the level when opened."""
        with self._lock:
            return list(self._edges)

    def lit(self) -> bool:
        """The level now."""
        return self.edges()[-1][1]

    def close(self) -> None:
        """Release the sense pin."""
        self._device.close()


class ButtonDrive:
    """The bench output jumpered to the panel's button: it presses like a finger."""

    def __init__(self, factory: PinFactory, pin: int, *, pull_up: bool) -> None:
        from gpiozero import DigitalOutputDevice

        # A pull-up button connects its pin to ground when pressed: pressed is low.
        self._pressed_level = not pull_up
        self._device = DigitalOutputDevice(
            pin, initial_value=not self._pressed_level, pin_factory=factory
        )

    def press(self) -> float:
        """Press; returns when (monotonic)."""
        at = time.monotonic()
        self._device.value = self._pressed_level
        return at

    def release(self) -> float:
        """Release; returns when (monotonic)."""
        at = time.monotonic()
        self._device.value = not self._pressed_level
        return at

    def chatter(self, edges: int, *, pressed_at_end: bool) -> None:
        """A contact bounce: ``edges`` quick alternations ending pressed or released."""
        level = not pressed_at_end
        for _ in range(edges):
            self._device.value = self._pressed_level if level else not self._pressed_level
            level = not level
            time.sleep(0.001)  # the bounce itself: a millisecond between contacts
        if pressed_at_end:
            self.press()
        else:
            self.release()

    def close(self) -> None:
        """Release the drive pin."""
        self._device.close()


def virtual_factory(wiring: Wiring) -> PinFactory:
    """A MockFactory whose LED and drive pins are jumpered, as on the bench Pi."""
    from gpiozero.pins.mock import MockFactory, MockPWMPin

    class JumperedPin(MockPWMPin):  # type: ignore[misc]
        """A mock output pin wired to another mock pin's input (a jumper wire)."""

        def __init__(self, factory: Any, info: Any, input_pin: Any = None) -> None:
            super().__init__(factory, info)
            self.input_pin = input_pin

        def _change_state(self, value: Any) -> bool:
            changed: bool = super()._change_state(value)
            # Only an output drives the wire; an input (the pin at rest) only floats.
            if changed and self.input_pin is not None and self._function == "output":
                if value:
                    self.input_pin.drive_high()
                else:
                    self.input_pin.drive_low()
            return changed

    factory = MockFactory(pin_class=MockPWMPin)
    panel, sense = wiring.panel, wiring.sense
    for output, target in (
        (panel.status_led, sense.status_led),
        (panel.mic_led, sense.mic_led),
        (sense.button_drive, panel.button),
    ):
        factory.pin(output, pin_class=JumperedPin, input_pin=factory.pin(target))
    jumpered: PinFactory = factory
    return jumpered


class EventLog:
    """Every event of the session with its monotonic time; waits are bounded."""

    def __init__(self, video: AloVideo) -> None:
        self._video = video
        self.entries: list[tuple[float, str, dict[str, Any]]] = []
        self.marks: list[StateMark] = []
        self._changed = asyncio.Event()
        for name in ("onConnectionChange", "onPanelAction", "onPanelLedChange"):
            video.events.add_event_listener(name, self._record)

    def _record(self, event: Event) -> None:
        now = time.monotonic()
        self.entries.append((now, event.type, dict(event.detail)))
        if event.type == "onConnectionChange":
            state = ConnectionState(event.detail["state"])
            auth = isinstance(self._video.last_error, AuthError)
            self.marks.append(StateMark(now, state, status_pattern(state, auth)))
        self._changed.set()

    def mark(self) -> int:
        """A position: later waits only look at events after it."""
        return len(self.entries)

    async def wait_for(
        self,
        predicate: Callable[[str, dict[str, Any]], bool],
        within: float,
        after: int = 0,
    ) -> tuple[float, dict[str, Any]] | None:
        """The first ``(time, detail)`` at or after ``after`` matching; None after ``within`` s."""
        deadline = time.monotonic() + within
        while True:
            for when, kind, detail in self.entries[after:]:
                if predicate(kind, detail):
                    return when, detail
            after = len(self.entries)
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(remaining):
                    await self._changed.wait()

    def actions(self, after: int = 0) -> list[tuple[float, dict[str, Any]]]:
        """Every panel action (``onPanelAction`` detail) after the mark ``after``, timed."""
        return [(w, d) for w, k, d in self.entries[after:] if k == "onPanelAction"]


def state_is(*states: str) -> Callable[[str, dict[str, Any]], bool]:
    """An :meth:`EventLog.wait_for` predicate: a connection change into one of ``states``."""
    return lambda kind, detail: kind == "onConnectionChange" and detail["state"] in states


def action_is(action: str) -> Callable[[str, dict[str, Any]], bool]:
    """An :meth:`EventLog.wait_for` predicate: the panel performed ``action``."""
    return lambda kind, detail: kind == "onPanelAction" and detail["action"] == action


async def wait_level(sense: SenseInput, lit: bool, within: float) -> float | None:
    """When ``sense`` showed ``lit`` (now or later), or None after ``within`` seconds."""
    deadline = time.monotonic() + within
    while True:
        edges = sense.edges()
        if edges[-1][1] == lit:
            return edges[-1][0]
        if time.monotonic() >= deadline:
            return None
        await asyncio.sleep(0.002)  # polling a recorded level, bounded by the deadline
