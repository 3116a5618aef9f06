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

:class:`~alo_edge.system.timesync_watch.TimeSyncWatch` polls it in the service: ``/status``
carries ``clock``, and while the clock is not synchronized systemd's STATUS= line says
:data:`NOT_SYNCHRONIZED`. This module is only the reader: ``alo-edge check`` reads the clock
through it without an event loop.
"""

from __future__ import annotations

import ctypes
import ctypes.util
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from alo_edge.system.pi_sensors import Runner, run_command

#: The words every report uses while the clock is not synchronized.
NOT_SYNCHRONIZED = "the system clock is not synchronized (no NTP time yet)"
#: Why that matters, for the longer reports (check, the journal).
WHY_IT_MATTERS = "TLS certificates and token times are judged against a wrong clock"
TIMESYNCD_DIR = "run/systemd/timesync"
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
