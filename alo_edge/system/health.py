"""Source health: a camera or microphone that stops delivering is restarted, not the session.

While the session is CONNECTED every published source must produce frames. One that
has produced none for :data:`STALL_SECONDS` is closed and reopened under the same
track (its ``restart()``), so the peer connection, and the CONNECTED state, stay up.
A source that stays dead is retried every :data:`STALL_SECONDS`; the service's
systemd watchdog catches one that never recovers.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable
from typing import Any

from prometheus_client.core import CounterMetricFamily, Metric

from alo_edge.errors import AloEdgeError
from alo_edge.media.base import Restartable
from alo_edge.session.states import ConnectionState
from alo_edge.session.view import SessionView
from alo_edge.tasks import cancel_and_wait

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
        self._session: SessionView | None = None
        self._task: asyncio.Task[None] | None = None
        self._last_restart: dict[int, float] = {}
        #: Restarts done so far, by device id.
        self.restarts: dict[str, int] = {}
        #: Restarts done so far, by kind (``video``: the camera).
        self.restarts_by_kind: dict[str, int] = {}

    async def start(self, session: SessionView) -> None:
        self._session = session
        self._task = asyncio.create_task(self._watch(), name="alo-edge source health")

    async def stop(self) -> None:
        task, self._task = self._task, None
        await cancel_and_wait(task)

    @property
    def status_key(self) -> str:
        """``/status`` carries the restarts under ``sourceRestarts``."""
        return "sourceRestarts"

    def status(self) -> dict[str, Any]:
        """Restarts so far, by device id (a camera that keeps stalling shows here)."""
        return dict(self.restarts)

    def metrics(self) -> Iterable[Metric]:
        """``alo_edge_source_restarts_total{device}``."""
        family = CounterMetricFamily(
            "alo_edge_source_restarts",
            "Capture sources closed and reopened after they stopped delivering",
            labels=["device"],
        )
        for device, count in sorted(self.restarts.items()):
            family.add_metric([device], count)
        yield family

    async def _watch(self) -> None:
        while True:
            await asyncio.sleep(self._poll)
            await self.check()

    async def check(self) -> None:
        """Restart each published source silent for longer than the stall time."""
        session = self._session
        if session is None or session.connection_state != ConnectionState.CONNECTED:
            return  # nothing pulls frames from a file or pattern source then
        now = self._clock()
        for source in session.published_sources:
            if not isinstance(source, Restartable):
                continue  # a pattern or a tone cannot stall on its own
            since = max(
                source.last_frame_at or 0.0,
                session.connected_at or 0.0,
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
                await source.restart()
            except AloEdgeError as exc:
                message = f"{message}; the restart failed: {exc}"
                logger.warning(
                    "%s source %s restart failed: %s", source.kind, source.device_id, exc
                )
            self.restarts[source.device_id] = self.restarts.get(source.device_id, 0) + 1
            self.restarts_by_kind[source.kind] = self.restarts_by_kind.get(source.kind, 0) + 1
            session.report_device_change(message)
