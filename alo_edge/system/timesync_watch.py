"""The service's clock watch: polls :class:`~alo_edge.system.timesync.TimeSyncReader`.

``/status`` carries ``clock``, ``/metrics`` ``alo_edge_clock_synchronized``, and while the
clock is not synchronized systemd's STATUS= line says :data:`NOT_SYNCHRONIZED` and the
journal says why that matters.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from alo_edge.session.view import SessionView
from alo_edge.system.timesync import NOT_SYNCHRONIZED, WHY_IT_MATTERS, TimeSync, TimeSyncReader
from alo_edge.tasks import cancel_and_wait, poll

if TYPE_CHECKING:
    from prometheus_client.core import Metric

logger = logging.getLogger(__name__)
POLL_SECONDS = 10.0


class TimeSyncWatch:
    """Polls :class:`TimeSyncReader`; a StatusSection (``clock``) and a SessionComponent.

    ``on_change`` runs (on the loop) whenever the answer changes, so the STATUS= line
    follows; :meth:`note` is what that line appends while the clock is not synchronized.
    """

    def __init__(
        self,
        reader: TimeSyncReader | None = None,
        interval: float = POLL_SECONDS,
        on_change: Callable[[], None] | None = None,
    ) -> None:
        self._reader = reader or TimeSyncReader()
        self._interval = interval
        self.on_change = on_change
        self.current: TimeSync | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self, session: SessionView) -> None:
        # The first answer comes from the task too: asking timedated can take seconds,
        # and the service's start (READY=1) must not wait for it.
        watching = poll(self._reader.read, self.update, self._interval)
        self._task = asyncio.create_task(watching, name="alo-edge time sync")

    async def stop(self) -> None:
        task, self._task = self._task, None
        await cancel_and_wait(task)

    def update(self, answer: TimeSync) -> None:
        """Take a new answer; log and tell ``on_change`` when it differs from the last."""
        before, self.current = self.current, answer
        if before == answer:
            return
        if answer.synchronized is False:
            logger.warning(
                "%s; %s", answer.message, WHY_IT_MATTERS, extra={"ALO_CLOCK": "unsynchronized"}
            )
        elif answer.synchronized and before is not None:
            logger.info("%s", answer.message, extra={"ALO_CLOCK": "synchronized"})
        if self.on_change is not None:
            self.on_change()

    def note(self) -> str | None:
        """:data:`NOT_SYNCHRONIZED` while that holds, else None."""
        if self.current is not None and self.current.synchronized is False:
            return NOT_SYNCHRONIZED
        return None

    @property
    def status_key(self) -> str:
        return "clock"

    def status(self) -> dict[str, Any]:
        current = self.current
        return {
            "synchronized": current.synchronized if current else None,
            "source": current.source if current else None,
            "message": current.message if current else None,
        }

    def metrics(self) -> Iterable[Metric]:
        """``alo_edge_clock_synchronized`` (absent while unknown)."""
        from prometheus_client.core import GaugeMetricFamily

        if self.current is not None and self.current.synchronized is not None:
            yield GaugeMetricFamily(
                "alo_edge_clock_synchronized",
                "1 when the system clock is NTP-synchronized",
                value=int(self.current.synchronized),
            )
