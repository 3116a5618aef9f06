"""A lab that ends a WHIP session when the token it was published with expires.

Servers differ: many check the bearer only when a session starts, some end the session
when its token runs out. ``alo-edge lab --end-sessions-at-expiry`` behaves as the strict
kind, so a device's renewal can be shown to carry it through (the fault tier does).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from alo_edge.lab.ingest import Channel

logger = logging.getLogger(__name__)


class SessionExpiry:
    """Ends each watched session at its token's ``exp`` (epoch seconds)."""

    def __init__(self, wall_clock: Callable[[], float]) -> None:
        self._wall_clock = wall_clock
        self._timers: set[asyncio.TimerHandle] = set()
        self._ending: set[asyncio.Task[None]] = set()

    def watch(self, channel: Channel, session_id: str, expires_at: float) -> None:
        """End ``session_id`` on ``channel`` at ``expires_at`` unless it ended before."""
        delay = max(expires_at - self._wall_clock(), 0.0)
        loop = asyncio.get_running_loop()
        handle: asyncio.TimerHandle | None = None

        def expire() -> None:
            if handle is not None:
                self._timers.discard(handle)
            task = asyncio.ensure_future(self._end(channel, session_id))
            self._ending.add(task)
            task.add_done_callback(self._ending.discard)

        handle = loop.call_later(delay, expire)
        self._timers.add(handle)

    async def _end(self, channel: Channel, session_id: str) -> None:
        if await channel.end_session(session_id):
            channel.stats.expired_sessions += 1
            logger.info("channel %s: session %s ended, its token expired", channel.name, session_id)

    async def close(self) -> None:
        """Cancel every pending expiry and wait for the ones under way."""
        for handle in self._timers:
            handle.cancel()
        self._timers.clear()
        for task in list(self._ending):
            with contextlib.suppress(asyncio.CancelledError):
                await task
