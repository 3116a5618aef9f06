"""Small parts that live beside a session: systemd's STATUS=, the media watchdog, the
talk-back speaker, and the ``--events`` JSON lines.

Each is a :class:`~alo_edge.session.view.SessionComponent`: it takes the session's
:class:`~alo_edge.session.view.SessionView` at ``start`` and lets go of it at ``stop``.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from typing import Any, TextIO

from alo_edge.errors import HardwareError
from alo_edge.events import Event
from alo_edge.media.base import AudioSink
from alo_edge.session.states import ConnectionState
from alo_edge.session.view import SessionView
from alo_edge.system.notify import Notifier, WatchdogPinger
from alo_edge.urls import mask_urls_in

logger = logging.getLogger(__name__)

#: A published source silent this long while connected counts as wedged (watchdog).
FRAME_STALL_SECONDS = 3.0


def status_line(detail: dict[str, Any]) -> str:
    """One line for a person (systemd STATUS=, the demo): state, and why or when next.

    URL secrets in the message are masked (the session masks them already; STATUS= is
    readable by every local user, so this line does not rely on it).
    """
    line = f"{detail['state']}: {detail.get('stateMessage', '')}"
    if "message" in detail:
        line += f" ({mask_urls_in(str(detail['message']))})"
    if "pendingRestartSeconds" in detail:
        line += f", next attempt in {detail['pendingRestartSeconds']} s"
        line += f" (retry {detail.get('retryCount', 0)})"
    return line


class SystemdStatus:
    """Mirrors every connection state into systemd's STATUS= line.

    ``note`` adds a condition a person must see whatever the state (the clock not being
    synchronized): the line becomes ``<state line>; <note>``; :meth:`refresh` re-sends the
    line when the note changes.
    """

    def __init__(self, notifier: Notifier, note: Callable[[], str | None] | None = None) -> None:
        self._notifier = notifier
        self._note = note
        self._session: SessionView | None = None
        self._last: dict[str, Any] | None = None

    async def start(self, session: SessionView) -> None:
        self._session = session
        session.events.add_event_listener("onConnectionChange", self._show)

    async def stop(self) -> None:
        session, self._session = self._session, None
        if session is not None:
            session.events.remove_event_listener("onConnectionChange", self._show)

    def _show(self, event: Event) -> None:
        self._last = event.detail
        self.refresh()

    def refresh(self) -> None:
        """Send the last state's line again, with the current note."""
        if self._last is None:
            return
        line = status_line(self._last)
        note = self._note() if self._note is not None else None
        self._notifier.status(line if note is None else f"{line}; {note}")


class MediaWatchdog:
    """WATCHDOG=1 pings while the loop runs and, when connected, media frames flow."""

    def __init__(self, notifier: Notifier, interval: float, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._session: SessionView | None = None
        self._pinger = WatchdogPinger(notifier, interval, self.media_flowing)

    async def start(self, session: SessionView) -> None:
        self._session = session
        await self._pinger.start()

    async def stop(self) -> None:
        await self._pinger.stop()

    def media_flowing(self) -> bool:
        """False when a published source has produced no frame for FRAME_STALL_SECONDS."""
        session = self._session
        if session is None or session.connection_state != ConnectionState.CONNECTED:
            return True  # nothing pulls frames while not connected
        now = self._clock()
        return all(
            (source.last_frame_at or session.connected_at or now) > now - FRAME_STALL_SECONDS
            for source in session.published_sources
        )


class TalkbackSpeaker:
    """Opens the talk-back sink before the session connects, and closes it after.

    A missing speaker is logged, not fatal (a door whose speaker is gone is still worth
    seeing); talk-back frames are then dropped by the unopened sink.
    """

    def __init__(self) -> None:
        self._sink: AudioSink | None = None

    async def start(self, session: SessionView) -> None:
        player = session.talkback
        if player is None:
            return
        self._sink = player.sink
        try:
            await self._sink.start()
        except HardwareError as exc:
            logger.warning("talk-back speaker unavailable: %s", exc)

    async def stop(self) -> None:
        sink, self._sink = self._sink, None
        if sink is not None:
            sink.stop()


class EventLineWriter:
    """Writes each named SDK event as one JSON line ``{"ts", "event", "detail"}`` and flushes."""

    def __init__(self, stream: TextIO, names: tuple[str, ...]) -> None:
        self._stream = stream
        self._names = names
        self._session: SessionView | None = None

    async def start(self, session: SessionView) -> None:
        self._session = session
        for name in self._names:
            session.events.add_event_listener(name, self.write)

    async def stop(self) -> None:
        session, self._session = self._session, None
        if session is not None:
            for name in self._names:
                session.events.remove_event_listener(name, self.write)

    def write(self, event: Event) -> None:
        line = {"ts": round(time.time(), 3), "event": event.type, "detail": event.detail}
        self._stream.write(json.dumps(line) + "\n")
        self._stream.flush()
