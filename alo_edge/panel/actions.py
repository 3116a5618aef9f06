"""The panel button: raw edges -> gestures -> session commands.

Two layers, so the timing logic is tested without sleeping:

- :class:`GestureDetector` is pure. It takes button edges and the current time as
  arguments and returns gestures: ``button_down``/``button_up`` at once, ``press``
  on a release before the hold time, ``hold`` after ``hold_seconds`` held,
  ``long_hold`` after ``long_hold_seconds`` held. It also debounces (see there).
- :class:`ButtonActions` turns a gesture into the configured command on the session
  (toggle mute, push-to-talk, reconnect now, restart the service), announces it as an
  ``onPanelAction`` event and a journal line.

:func:`follow_button` is the small async loop between them: it reads the edges the
hardware adapter bridged into the event loop and wakes for hold deadlines.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from alo_edge.events import Event
from alo_edge.session.view import SessionView

logger = logging.getLogger(__name__)

#: The event every panel action is announced with (SDK-style: ``detail["action"]`` etc.).
PANEL_ACTION_EVENT = "onPanelAction"


class Gesture(StrEnum):
    """What a person did with the button."""

    BUTTON_DOWN = "button_down"
    BUTTON_UP = "button_up"
    PRESS = "press"
    HOLD = "hold"
    LONG_HOLD = "long_hold"


class Action(StrEnum):
    """What a gesture does; the values are the config's ``gpio.on_*`` choices."""

    TOGGLE_MUTE = "toggle_mute"
    PUSH_TO_TALK = "push_to_talk"
    RECONNECT = "reconnect"
    RESTART = "restart"
    NONE = "none"


@dataclass(frozen=True)
class ButtonEdge:
    """One raw level change of the button, stamped on the thread that saw it."""

    pressed: bool
    at: float  # time.monotonic() seconds


@dataclass(frozen=True)
class GestureEvent:
    """A gesture and when it happened; ``held`` is how long the button had been down."""

    gesture: Gesture
    at: float
    held: float = 0.0


class GestureDetector:
    """Pure: button edges and the time in, gestures out.

    Debounce is a lock-out: the first edge is taken at once (no added latency), and
    for ``bounce_seconds`` after it further edges only update the raw level. When the
    lock-out ends and the raw level differs from the accepted one (a tap shorter than
    the bounce time), the raw level is taken then, so no release is ever lost.
    gpiozero's own ``bounce_time`` is passed to the pin as well, but its mock pins
    ignore it; this one works the same on every backend.

    ``hold_seconds`` or ``long_hold_seconds`` of None disarm that gesture (a
    push-to-talk button is held to talk, so a hold must not reconnect).
    """

    def __init__(
        self,
        *,
        hold_seconds: float | None,
        long_hold_seconds: float | None,
        bounce_seconds: float = 0.0,
    ) -> None:
        self._hold_seconds = hold_seconds
        self._long_hold_seconds = long_hold_seconds
        self._bounce_seconds = bounce_seconds
        self._down = False
        self._raw = False
        self._down_since = 0.0
        self._locked_until = -float("inf")
        self._held_fired = False
        self._long_held_fired = False

    @property
    def pressed(self) -> bool:
        """The debounced button level."""
        return self._down

    def edge(self, pressed: bool, at: float) -> list[GestureEvent]:
        """A raw level change at ``at``; returns the gestures it completes (maybe none)."""
        gestures = self.advance(at)
        self._raw = pressed
        if at >= self._locked_until and pressed != self._down:
            gestures += self._accept(pressed, at)
        return gestures

    def advance(self, now: float) -> list[GestureEvent]:
        """Let time pass to ``now``: fires due holds and ends a bounce lock-out, in order."""
        gestures: list[GestureEvent] = []
        while (due := self.next_deadline()) is not None and due <= now:
            if self._raw != self._down and due == self._locked_until:
                gestures += self._accept(self._raw, due)
            elif self._hold_due() == due:
                self._held_fired = True
                gestures.append(GestureEvent(Gesture.HOLD, due, due - self._down_since))
            else:
                self._long_held_fired = True
                gestures.append(GestureEvent(Gesture.LONG_HOLD, due, due - self._down_since))
        return gestures

    def next_deadline(self) -> float | None:
        """When :meth:`advance` next has something to do, or None while nothing is pending."""
        candidates = [self._hold_due(), self._long_hold_due()]
        if self._raw != self._down:
            candidates.append(self._locked_until)
        pending = [t for t in candidates if t is not None]
        return min(pending) if pending else None

    def _hold_due(self) -> float | None:
        if not self._down or self._held_fired or self._hold_seconds is None:
            return None
        return self._down_since + self._hold_seconds

    def _long_hold_due(self) -> float | None:
        if not self._down or self._long_held_fired or self._long_hold_seconds is None:
            return None
        return self._down_since + self._long_hold_seconds

    def _accept(self, pressed: bool, at: float) -> list[GestureEvent]:
        self._down = pressed
        self._locked_until = at + self._bounce_seconds
        if pressed:
            self._down_since = at
            self._held_fired = self._long_held_fired = False
            return [GestureEvent(Gesture.BUTTON_DOWN, at)]
        held = at - self._down_since
        gestures = [GestureEvent(Gesture.BUTTON_UP, at, held)]
        if not self._held_fired and not self._long_held_fired:
            gestures.append(GestureEvent(Gesture.PRESS, at, held))
        return gestures


@dataclass(frozen=True)
class ButtonMapping:
    """Which action each gesture triggers (``gpio.on_press``, ``on_hold``, ``on_long_hold``)."""

    press: Action = Action.TOGGLE_MUTE
    hold: Action = Action.RECONNECT
    long_hold: Action = Action.RESTART

    @classmethod
    def from_config(
        cls, on_press: str, on_hold: str, on_long_hold: str, audio_mode: str
    ) -> ButtonMapping:
        """Resolve ``on_press = "auto"``: push-to-talk when ``audio.mode = "ptt"``, else mute."""
        if on_press == "auto":
            on_press = Action.PUSH_TO_TALK if audio_mode == "ptt" else Action.TOGGLE_MUTE
        return cls(Action(on_press), Action(on_hold), Action(on_long_hold))

    @property
    def push_to_talk(self) -> bool:
        """True when the button is held to talk (holds are then disarmed)."""
        return self.press is Action.PUSH_TO_TALK


def detector_for(
    mapping: ButtonMapping, *, hold_seconds: float, long_hold_seconds: float, bounce_seconds: float
) -> GestureDetector:
    """The detector for ``mapping``: a push-to-talk button never fires hold gestures.

    Talking for longer than ``hold_seconds`` is normal; it must not reconnect the
    session or restart the service in the middle of a sentence.
    """
    armed = not mapping.push_to_talk
    return GestureDetector(
        hold_seconds=hold_seconds if armed and mapping.hold is not Action.NONE else None,
        long_hold_seconds=(
            long_hold_seconds if armed and mapping.long_hold is not Action.NONE else None
        ),
        bounce_seconds=bounce_seconds,
    )


class ButtonActions:
    """Performs the configured action for each gesture and announces it.

    Every action is an ``onPanelAction`` event on the session's events
    ({action, gesture, heldSeconds, muted?}) and an INFO journal line with
    ``ALO_PANEL_ACTION``, so a person can see in the journal why a device went
    mute or reconnected.
    """

    def __init__(
        self,
        session: SessionView,
        mapping: ButtonMapping,
        *,
        request_restart: Callable[[], None],
        on_performed: Callable[[Action], None] | None = None,
    ) -> None:
        self._session = session
        self._mapping = mapping
        self._request_restart = request_restart
        self._on_performed = on_performed

    async def perform(self, event: GestureEvent) -> Action | None:
        """Run the action ``event`` maps to; returns it, or None when the gesture does nothing."""
        action = self._action_for(event.gesture)
        if action is None or action is Action.NONE:
            return None
        detail: dict[str, Any] = {
            "action": action.value,
            "gesture": event.gesture.value,
            "heldSeconds": round(event.held, 3),
        }
        if action is Action.TOGGLE_MUTE:
            await self._session.set_muted(not self._session.muted)
            detail["muted"] = self._session.muted
        elif action is Action.PUSH_TO_TALK:
            talking = event.gesture is Gesture.BUTTON_DOWN
            await self._session.set_muted(not talking)
            detail["muted"] = self._session.muted
        elif action is Action.RECONNECT:
            self._session.reconnect_now()
        elif action is Action.RESTART:
            self._request_restart()
        logger.info(
            "panel button %s: %s",
            event.gesture.value,
            action.value,
            extra={"ALO_PANEL_ACTION": action.value, "ALO_PANEL_GESTURE": event.gesture.value},
        )
        self._session.events.dispatch_event(Event(PANEL_ACTION_EVENT, detail))
        if self._on_performed is not None:
            self._on_performed(action)
        return action

    def _action_for(self, gesture: Gesture) -> Action | None:
        mapping = self._mapping
        if mapping.push_to_talk:
            # Down talks, up stops; the click itself (press) is already handled by those.
            if gesture in (Gesture.BUTTON_DOWN, Gesture.BUTTON_UP):
                return Action.PUSH_TO_TALK
            return None
        if gesture is Gesture.PRESS:
            return mapping.press
        if gesture is Gesture.HOLD:
            return mapping.hold
        if gesture is Gesture.LONG_HOLD:
            return mapping.long_hold
        return None


async def follow_button(
    edges: asyncio.Queue[ButtonEdge],
    detector: GestureDetector,
    actions: ButtonActions,
    *,
    clock: Callable[[], float] = time.monotonic,
) -> None:
    """Forever: feed bridged edges and elapsed time to ``detector``, perform its gestures.

    ``clock`` must be the clock the edges were stamped with (the bridge uses
    ``time.monotonic``). An action that fails is logged; the button keeps working.
    """
    while True:
        deadline = detector.next_deadline()
        delay = None if deadline is None else max(deadline - clock(), 0.0)
        try:
            # asyncio.timeout, not wait_for: Python 3.11's wait_for can swallow a
            # cancellation that races with an arriving edge, and stop() would hang.
            async with asyncio.timeout(delay):
                edge = await edges.get()
        except TimeoutError:
            gestures = detector.advance(clock())
        else:
            gestures = detector.edge(edge.pressed, edge.at)
        for gesture in gestures:
            try:
                await actions.perform(gesture)
            except Exception:
                logger.exception("panel action for %s failed", gesture.gesture.value)


def starts_muted(audio_mode: str) -> bool:
    """Whether the microphone starts muted for ``audio.mode`` (ptt and muted do)."""
    return audio_mode in ("ptt", "muted")


__all__ = [
    "PANEL_ACTION_EVENT",
    "Action",
    "ButtonActions",
    "ButtonEdge",
    "ButtonMapping",
    "Gesture",
    "GestureDetector",
    "GestureEvent",
    "detector_for",
    "follow_button",
    "starts_muted",
]
