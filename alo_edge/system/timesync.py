"""Is the system clock synchronized? A Pi has no real-time clock.

Until NTP has set it, a Pi's clock is wherever the last shutdown left it (or 1970), so a
server's TLS certificate is "not yet valid" and a token's times look wrong, with errors
that point anywhere but at the clock. This module answers the question the way systemd
does, from three sources in turn:

1. ``/run/systemd/timesync/synchronized`` exists: systemd-timesyncd has synchronized
   (Raspberry Pi OS's default time daemon);
2. timesyncd's runtime directory exists without that flag: it runs but has not yet;
3. the kernel's NTP state, ``adjtimex()`` (as ``timedatectl``'s "System clock synchronized"
   and systemd-time-wait-sync read it): chrony and ntpd keep it too;
4. where that call is refused (the service's unit has ``ProtectClock=yes``, which filters
   every clock system call), ``timedatectl show -p NTPSynchronized`` asks systemd-timedated.

:class:`TimeSyncWatch` polls it in the service: ``/status`` carries ``clock``, and while the
clock is not synchronized systemd's STATUS= line says :data:`NOT_SYNCHRONIZED`.
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from alo_edge.session.view import SessionView

if TYPE_CHECKING:
    # `alo-edge check` reads the clock through this module: no metrics library for it.
    from prometheus_client.core import Metric
from alo_edge.system.pi_sensors import Runner, run_command
from alo_edge.tasks import cancel_and_wait

logger = logging.getLogger(__name__)

#: The words every report uses while the clock is not synchronized.
NOT_SYNCHRONIZED = "the system clock is not synchronized (no NTP time yet)"
#: Why that matters, for the longer reports (check, the journal).
WHY_IT_MATTERS = "TLS certificates and token times are judged against a wrong clock"
TIMESYNCD_DIR = "run/systemd/timesync"
POLL_SECONDS = 10.0
#: adjtimex() returns TIME_ERROR while the kernel's STA_UNSYNC flag is set.
_TIME_ERROR = 5
#: systemd counts the clock synchronized only when the kernel's maximum error is below 16 s.
_MAX_ERROR_USEC = 16_000_000


@dataclass(frozen=True)
class TimeSync:
    """The answer: synchronized (None: could not tell), and who said so."""

    synchronized: bool | None
    source: str

    @property
    def message(self) -> str:
        if self.synchronized is None:
            return f"cannot tell whether the system clock is synchronized ({self.source})"
        if self.synchronized:
            return f"the system clock is synchronized ({self.source})"
        return f"{NOT_SYNCHRONIZED} ({self.source})"


class _Timex(ctypes.Structure):
    # The leading fields of struct timex (same on 32- and 64-bit: C longs), and room for
    # the rest, which the kernel fills in too.
    _fields_ = [
        ("modes", ctypes.c_uint),
        ("offset", ctypes.c_long),
        ("freq", ctypes.c_long),
        ("maxerror", ctypes.c_long),
        ("esterror", ctypes.c_long),
        ("status", ctypes.c_int),
        ("rest", ctypes.c_byte * 256),
    ]


def kernel_synchronized() -> bool | None:
    """The kernel's NTP state through ``adjtimex()`` with no changes; None when refused.

    Hand-written with ctypes: the standard library has no adjtimex, and no maintained
    package wraps this one read-only call.
    """
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
    except OSError:
        return None
    timex = _Timex()  # modes = 0: read only
    state = int(libc.adjtimex(ctypes.byref(timex)))
    if state < 0:
        return None  # EPERM under a seccomp filter (ProtectClock=yes), ENOSYS ...
    return bool(state != _TIME_ERROR and timex.maxerror < _MAX_ERROR_USEC)


class TimeSyncReader:
    """Answers :class:`TimeSync` from timesyncd's files, the kernel, or timedated."""

    def __init__(
        self,
        root: Path = Path("/"),
        kernel: Callable[[], bool | None] = kernel_synchronized,
        runner: Runner = run_command,
    ) -> None:
        self._dir = root / TIMESYNCD_DIR
        self._kernel = kernel
        self._runner = runner

    def read(self) -> TimeSync:
        if (self._dir / "synchronized").exists():
            return TimeSync(True, "systemd-timesyncd")
        if self._dir.is_dir():
            return TimeSync(False, "systemd-timesyncd has not synchronized yet")
        kernel = self._kernel()
        if kernel is not None:
            return TimeSync(kernel, "kernel NTP state")
        out = self._runner(["timedatectl", "show", "--property=NTPSynchronized", "--value"])
        if out is not None and out.strip() in ("yes", "no"):
            return TimeSync(out.strip() == "yes", "timedatectl")
        return TimeSync(None, "no time daemon answered")


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
        self._task = asyncio.create_task(self._watch(), name="alo-edge time sync")

    async def stop(self) -> None:
        task, self._task = self._task, None
        await cancel_and_wait(task)

    async def _watch(self) -> None:
        while True:
            self.update(await asyncio.to_thread(self._reader.read))
            await asyncio.sleep(self._interval)

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
