"""sd_notify: READY, STATUS, WATCHDOG and STOPPING for systemd's Type=notify.

Uses systemd-python where installed (apt's python3-systemd on a Pi) and the raw
datagram protocol otherwise; both are silent no-ops without NOTIFY_SOCKET, and a
broken socket is logged once, never raised: a device must not die because its
supervisor cannot be told something.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import os
import socket
import time
from collections.abc import Callable, Mapping

from alo_edge.tasks import cancel_and_wait

logger = logging.getLogger(__name__)


class Notifier:
    """Sends sd_notify messages to the socket named by ``$NOTIFY_SOCKET``."""

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        env = os.environ if environ is None else environ
        self._socket_path = env.get("NOTIFY_SOCKET") or None
        self._watchdog_usec = env.get("WATCHDOG_USEC")
        self._watchdog_pid = env.get("WATCHDOG_PID")
        self._warned = False

    @property
    def enabled(self) -> bool:
        """True when running under a manager that listens (systemd with Type=notify)."""
        return self._socket_path is not None

    def watchdog_interval(self) -> float | None:
        """Seconds between WATCHDOG=1 pings (half of WatchdogSec), None when not asked for."""
        if not self._watchdog_usec:
            return None
        if self._watchdog_pid and self._watchdog_pid != str(os.getpid()):
            return None  # the watchdog belongs to another process (e.g. our parent)
        try:
            usec = int(self._watchdog_usec)
        except ValueError:
            logger.warning(
                "WATCHDOG_USEC=%r is not a number; watchdog disabled", self._watchdog_usec
            )
            return None
        return usec / 2_000_000 if usec > 0 else None

    def ready(self, status: str | None = None) -> bool:
        return self.send("READY=1" + (f"\nSTATUS={status}" if status else ""))

    def status(self, text: str) -> bool:
        return self.send(f"STATUS={text}")

    def watchdog(self) -> bool:
        return self.send("WATCHDOG=1")

    def reloading(self) -> bool:
        # RELOADING=1 wants MONOTONIC_USEC since systemd 253; older ones ignore it.
        return self.send(f"RELOADING=1\nMONOTONIC_USEC={time.monotonic_ns() // 1000}")

    def stopping(self) -> bool:
        return self.send("STOPPING=1")

    def send(self, message: str) -> bool:
        """Send one notification; False (and a single warning) when it cannot be delivered."""
        if self._socket_path is None:
            return False
        try:
            return _send_with_library(message) or _send_raw(self._socket_path, message)
        except OSError as exc:
            if not self._warned:
                logger.warning("cannot notify systemd at %s: %s", self._socket_path, exc)
                self._warned = True
            return False


def _send_with_library(message: str) -> bool:
    try:
        # apt's python3-systemd / systemd-python; looked up by name because the
        # repository's own systemd/ folder (the unit) shadows it for type checkers.
        daemon = importlib.import_module("systemd.daemon")
    except ImportError:
        return False
    return bool(daemon.notify(message))


def _send_raw(path: str, message: str) -> bool:
    # A leading '@' names a socket in the abstract namespace.
    address = "\0" + path[1:] if path.startswith("@") else path
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
        sock.sendto(message.encode(), address)
    return True


class WatchdogPinger:
    """Pings WATCHDOG=1 from the event loop while ``healthy()`` says the device works.

    The ping is sent by a task on the loop itself, so a blocked loop sends none; and
    ``healthy`` is false while media frames stop, so a wedged camera also lets
    systemd restart the service.
    """

    def __init__(self, notifier: Notifier, interval: float, healthy: Callable[[], bool]) -> None:
        self._notifier = notifier
        self._interval = interval
        self._healthy = healthy
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="alo-edge watchdog")

    async def stop(self) -> None:
        task, self._task = self._task, None
        await cancel_and_wait(task)

    async def _run(self) -> None:
        was_healthy = True
        while True:
            healthy = self._healthy()
            if healthy:
                self._notifier.watchdog()
            if healthy != was_healthy:
                if healthy:
                    logger.info("watchdog pings resumed: media frames flow again")
                else:
                    logger.warning("watchdog pings withheld: media frames are not flowing")
                was_healthy = healthy
            await asyncio.sleep(self._interval)
