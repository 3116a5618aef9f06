"""A small EventTarget, shaped like the browser's, for the SDK's events.

Listeners are plain callables taking an :class:`Event`. A listener that raises is
logged and does not stop the others: one broken listener must not wedge the session.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

logger = logging.getLogger(__name__)

Listener = Callable[["Event"], None]


@dataclass(frozen=True)
class Event:
    """One SDK event: ``type`` is ALO's event name, ``detail`` its payload (ALO's keys)."""

    type: str
    detail: dict[str, Any] = field(default_factory=dict)


class EventTarget:
    """Registers listeners per event name and dispatches events to them in order."""

    def __init__(self) -> None:
        self._listeners: dict[str, list[Listener]] = {}

    def add_event_listener(self, type: str, listener: Listener) -> None:
        """Call ``listener`` for every event named ``type`` (once, even if added twice)."""
        listeners = self._listeners.setdefault(type, [])
        if listener not in listeners:
            listeners.append(listener)

    def remove_event_listener(self, type: str, listener: Listener) -> None:
        """Stop calling ``listener`` for ``type``; unknown listeners are ignored."""
        listeners = self._listeners.get(type, [])
        if listener in listeners:
            listeners.remove(listener)

    def dispatch_event(self, event: Event) -> None:
        """Deliver ``event`` to a snapshot of its listeners (they may remove themselves)."""
        for listener in list(self._listeners.get(event.type, [])):
            try:
                listener(event)
            except Exception:
                logger.exception("listener for %s raised; other listeners still run", event.type)
