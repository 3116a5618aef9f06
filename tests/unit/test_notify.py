"""sd_notify through a socket the test owns: READY, STATUS, WATCHDOG cadence, STOPPING."""

from __future__ import annotations

import asyncio
import itertools
import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from alo_edge.system.notify import Notifier, WatchdogPinger


class NotifySocket:
    """A datagram socket standing in for systemd's NOTIFY_SOCKET."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self._sock.bind(str(path))
        self._sock.setblocking(False)

    def drain(self) -> list[tuple[float, str]]:
        messages = []
        while True:
            try:
                data = self._sock.recv(4096)
            except BlockingIOError:
                return messages
            messages.append((time.monotonic(), data.decode()))

    def close(self) -> None:
        self._sock.close()


@pytest.fixture
def notify_socket(tmp_path: Path) -> Iterator[NotifySocket]:
    sock = NotifySocket(tmp_path / "notify")
    yield sock
    sock.close()


def test_without_notify_socket_nothing_is_sent_and_nothing_raises() -> None:
    notifier = Notifier(environ={})
    assert not notifier.enabled
    assert notifier.ready() is False
    assert notifier.watchdog_interval() is None


def test_ready_status_stopping_reach_the_socket(notify_socket: NotifySocket) -> None:
    notifier = Notifier(environ={"NOTIFY_SOCKET": str(notify_socket.path)})
    notifier.ready("CONNECTING: connecting")
    notifier.status("CONNECTED: connected")
    notifier.stopping()
    assert [m for _, m in notify_socket.drain()] == [
        "READY=1\nSTATUS=CONNECTING: connecting",
        "STATUS=CONNECTED: connected",
        "STOPPING=1",
    ]


def test_a_missing_socket_is_reported_once_not_raised(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    notifier = Notifier(environ={"NOTIFY_SOCKET": str(tmp_path / "gone")})
    assert notifier.status("x") is False
    assert notifier.status("y") is False
    assert len([r for r in caplog.records if "cannot notify systemd" in r.message]) == 1


def test_watchdog_interval_is_half_of_watchdog_usec_for_our_pid_only() -> None:
    mine = Notifier(environ={"WATCHDOG_USEC": "10000000", "WATCHDOG_PID": str(os.getpid())})
    assert mine.watchdog_interval() == 5.0
    theirs = Notifier(environ={"WATCHDOG_USEC": "10000000", "WATCHDOG_PID": "1"})
    assert theirs.watchdog_interval() is None


async def test_watchdog_pings_at_its_interval_while_healthy(notify_socket: NotifySocket) -> None:
    notifier = Notifier(environ={"NOTIFY_SOCKET": str(notify_socket.path)})
    pinger = WatchdogPinger(notifier, 0.1, healthy=lambda: True)
    await pinger.start()
    try:
        pings = await _collect(notify_socket, count=4, within=2.0)
    finally:
        await pinger.stop()
    gaps = [b - a for (a, _), (b, _) in itertools.pairwise(pings)]
    assert all(m == "WATCHDOG=1" for _, m in pings)
    assert all(0.05 < gap < 0.5 for gap in gaps), gaps


async def test_no_watchdog_while_frames_stopped_and_again_when_they_flow(
    notify_socket: NotifySocket,
) -> None:
    notifier = Notifier(environ={"NOTIFY_SOCKET": str(notify_socket.path)})
    flowing = asyncio.Event()
    pinger = WatchdogPinger(notifier, 0.05, healthy=flowing.is_set)
    await pinger.start()
    try:
        # Several intervals pass with frames stopped: not a single ping may arrive.
        for _ in range(6):
            await asyncio.sleep(0.05)
        assert notify_socket.drain() == []
        flowing.set()
        assert await _collect(notify_socket, count=1, within=2.0)
    finally:
        await pinger.stop()


async def test_no_watchdog_while_the_event_loop_is_blocked(notify_socket: NotifySocket) -> None:
    notifier = Notifier(environ={"NOTIFY_SOCKET": str(notify_socket.path)})
    pinger = WatchdogPinger(notifier, 0.05, healthy=lambda: True)
    await pinger.start()
    try:
        await _collect(notify_socket, count=1, within=2.0)
        notify_socket.drain()
        time.sleep(0.4)  # noqa: ASYNC251 - a wedged loop is exactly what is tested
        during_block = notify_socket.drain()  # read before the loop gets to run again
        after_block = await _collect(notify_socket, count=1, within=2.0)
    finally:
        await pinger.stop()
    assert during_block == []
    assert after_block, "pings resume once the loop runs again"


async def _collect(sock: NotifySocket, *, count: int, within: float) -> list[tuple[float, str]]:
    messages: list[tuple[float, str]] = []
    deadline = time.monotonic() + within
    while len(messages) < count and time.monotonic() < deadline:
        messages += sock.drain()
        await asyncio.sleep(0.01)
    assert len(messages) >= count, f"only {len(messages)} notifications in {within} s"
    return messages
