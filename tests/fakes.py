"""Test doubles for the session: a fake clock, an in-memory transport, a state recorder.

Nothing here sleeps for real. ``FakeClock.sleep`` moves fake time forward at once, so a
30 s backoff countdown runs in microseconds; the only real-time bounds are the safety
nets of :meth:`StateRecorder.wait_for`.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from typing import Any

import aiohttp

from alo_edge.api import AloVideo
from alo_edge.events import Event
from alo_edge.transport.base import Access, OutboundStats, PublishedTracks, ReportTarget
from alo_edge.transport.room import RoomListener


class FakeClock:
    """The ``Clock`` protocol on fake time: ``sleep(s)`` advances by ``s`` and yields once.

    ``hold()`` parks every later sleep (time stands still) until ``release()``, so a test
    can catch the session in the middle of a backoff wait.
    """

    def __init__(self, *, monotonic: float = 1000.0, wall: float = 1_700_000_000.0) -> None:
        self._now = monotonic
        self._wall_offset = wall - monotonic
        self.sleeps: list[float] = []
        self._running = asyncio.Event()
        self._running.set()

    def monotonic(self) -> float:
        return self._now

    def wall(self) -> float:
        return self._now + self._wall_offset

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        if not self._running.is_set():
            await self._running.wait()
        self._now += max(seconds, 0.0)
        await asyncio.sleep(0)

    def advance(self, seconds: float) -> None:
        """Let ``seconds`` of fake time pass without anyone sleeping (a link staying up)."""
        self._now += seconds

    def hold(self) -> None:
        """Park every sleep from now on until :meth:`release`."""
        self._running.clear()

    def release(self) -> None:
        self._running.set()


class InMemoryConnection:
    """A live connection that stays up until the test calls :meth:`lose`."""

    def __init__(self, name: str = "connection") -> None:
        self.name = name
        self.close_count = 0
        self.replaced: list[PublishedTracks] = []
        self.journal: list[str] | None = None  # the transport's, once it hands this out
        self._lost = asyncio.Event()
        self._reason = ""

    @property
    def closed(self) -> bool:
        return self.close_count > 0

    def lose(self, reason: str = "link lost") -> None:
        """The link dies now (server gone, path dead); ``wait_lost`` returns ``reason``."""
        self._reason = reason
        self._lost.set()

    async def wait_lost(self) -> str:
        await self._lost.wait()
        return self._reason

    async def replace_tracks(self, tracks: PublishedTracks) -> None:
        self.replaced.append(tracks)

    async def outbound_stats(self) -> list[OutboundStats]:
        return []

    @property
    def report_target(self) -> ReportTarget | None:
        return None

    async def close(self) -> None:
        self.close_count += 1
        if self.journal is not None:
            self.journal.append(f"close {self.name}")


Outcome = BaseException | InMemoryConnection


class InMemoryTransport:
    """A ``Transport`` that plays a script: one outcome per ``open`` call, in order.

    An outcome is an exception to raise or an :class:`InMemoryConnection` to return.
    When the script runs out, ``open`` waits (like a server that does not answer) until
    :meth:`script` adds more, so the session never spins through fake time on its own.
    """

    def __init__(self, *outcomes: Outcome) -> None:
        self._outcomes: deque[Outcome] = deque(outcomes)
        self._more = asyncio.Event()
        self.opened: list[Access] = []
        self.tracks: list[PublishedTracks] = []
        #: "open" for every attempt and "close <name>" for every close, in order.
        self.journal: list[str] = []

    def script(self, *outcomes: Outcome) -> None:
        self._outcomes.extend(outcomes)
        self._more.set()

    async def open(
        self,
        access: Access,
        tracks: PublishedTracks,
        http: aiohttp.ClientSession,
        room: RoomListener,
    ) -> InMemoryConnection:
        self.opened.append(access)
        self.tracks.append(tracks)
        self.journal.append("open")
        while not self._outcomes:
            self._more.clear()
            await self._more.wait()
        outcome = self._outcomes.popleft()
        if isinstance(outcome, BaseException):
            raise outcome
        outcome.journal = self.journal
        return outcome


class StateRecorder:
    """Collects every ``onConnectionChange`` and ``onDisconnect`` of an AloVideo."""

    def __init__(self, video: AloVideo) -> None:
        self.changes: list[dict[str, Any]] = []
        self.disconnects: list[dict[str, Any]] = []
        #: Both events in order: the state for a change, "onDisconnect(<state>)" for the other.
        self.timeline: list[str] = []
        video.events.add_event_listener("onConnectionChange", self._on_change)
        video.events.add_event_listener("onDisconnect", self._on_disconnect)

    def _on_change(self, event: Event) -> None:
        self.changes.append(dict(event.detail))
        self.timeline.append(event.detail["state"])

    def _on_disconnect(self, event: Event) -> None:
        self.disconnects.append(dict(event.detail))
        self.timeline.append(f"onDisconnect({event.detail['state']})")

    @property
    def states(self) -> list[str]:
        return [change["state"] for change in self.changes]

    @property
    def state(self) -> str | None:
        return self.changes[-1]["state"] if self.changes else None

    @property
    def countdown(self) -> list[tuple[int, int]]:
        """``(pendingRestartSeconds, retryCount)`` of every RECONNECT_PENDING, in order."""
        return [
            (change["pendingRestartSeconds"], change["retryCount"])
            for change in self.changes
            if change["state"] == "RECONNECT_PENDING"
        ]

    def of_state(self, state: str) -> list[dict[str, Any]]:
        return [change for change in self.changes if change["state"] == state]

    async def wait_for(self, predicate: Callable[[], bool], wall_seconds: float = 5.0) -> None:
        """Let the event loop run until ``predicate()`` holds.

        ``wall_seconds`` is only a safety net in real time: the session runs on fake time,
        so a condition that holds at all holds after a few thousand loop turns.
        """

        async def poll() -> None:
            # Polled, not event-driven: predicates also look at tasks and transport calls.
            while not predicate():  # noqa: ASYNC110
                await asyncio.sleep(0)

        try:
            await asyncio.wait_for(poll(), wall_seconds)
        except TimeoutError:
            raise AssertionError(
                f"condition not met within {wall_seconds} s; events so far: {self.timeline}"
            ) from None

    async def wait_for_state(self, state: str, count: int = 1, wall_seconds: float = 5.0) -> None:
        """Wait until ``state`` has been reported ``count`` times."""
        await self.wait_for(lambda: self.states.count(state) >= count, wall_seconds)
