"""Source health: a camera or microphone that stops delivering is restarted, not the session.

While the session is CONNECTED every published source must produce frames. One that
has produced none for :data:`STALL_SECONDS` is closed and reopened under the same
track (its ``restart()``), so the peer connection, and the CONNECTED state, stay up.
A source that stays dead is retried every :data:`STALL_SECONDS`; the service's
systemd watchdog catches one that never recovers.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from alo_edge.errors import AloEdgeError

if TYPE_CHECKING:
    from alo_edge.api import AloVideo

logger = logging.getLogger(__name__)

STALL_SECONDS = 3.0
POLL_SECONDS = 0.5


class SourceHealth:
    """Watches the published sources of one session and restarts a stalled one."""

    def __init__(
        self,
        stall_after: float = STALL_SECONDS,
        poll: float = POLL_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._stall_after = stall_after
        self._poll = poll
        self._clock = clock
        self._video: AloVideo | None = None
        self._task: asyncio.Task[None] | None = None
        self._last_restart: dict[int, float] = {}
        #: Restarts done so far, by device id.
        self.restarts: dict[str, int] = {}

    async def start(self, video: AloVideo) -> None:
        self._video = video
        self._task = asyncio.create_task(self._watch(), name="alo-edge source health")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _watch(self) -> None:
        while True:
            await asyncio.sleep(self._poll)
            await self.check()

    async def check(self) -> None:
        """Restart each published source silent for longer than the stall time."""
        video = self._video
        if video is None or video.connection_state != video.CONNECTION_STATUS_CONNECTED:
            return  # nothing pulls frames from a file or pattern source then
        now = self._clock()
        for source in video.published_sources:
            restart: Callable[[], Awaitable[None]] | None = getattr(source, "restart", None)
            if restart is None:
                continue
            since = max(
                source.last_frame_at or 0.0,
                video.connected_at or 0.0,
                self._last_restart.get(id(source), 0.0),
            )
            if now - since <= self._stall_after:
                continue
            self._last_restart[id(source)] = now
            message = (
                f"{source.kind} source {source.device_id} delivered no frame for "
                f"{now - since:.1f} s; restarting it"
            )
            logger.warning("%s", message)
            try:
                await restart()
            except AloEdgeError as exc:
                message = f"{message}; the restart failed: {exc}"
                logger.warning(
                    "%s source %s restart failed: %s", source.kind, source.device_id, exc
                )
            self.restarts[source.device_id] = self.restarts.get(source.device_id, 0) + 1
            video.report_device_change(message)
