"""The hostile-server tier: the real ``alo-edge run`` against a server that answers badly on
purpose, and a second host (127.0.0.2) that records whatever reaches it.

Needs no root: the second host is another loopback address (Linux routes 127.0.0.0/8
to ``lo``), so the tier runs everywhere the integration tier does, and in CI it is
never skipped. Every server here runs in the test process and is closed by its
fixture, pass or fail; the device is killed by process group.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import LabProcess
from tests.hostile.servers import CredentialRecorder, HostileServer
from tests.netns import mark_tier


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "hostile: the real device against a hostile server and a recording second host"
    )


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    mark_tier(items, "tests/hostile/", "hostile", None)


class NotifySocket:
    """systemd's NOTIFY_SOCKET, read on a thread so the device never blocks on a full queue."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.messages: list[str] = []
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self._sock.bind(str(path))
        self._sock.settimeout(0.2)
        self._closing = threading.Event()
        self._thread = threading.Thread(target=self._read, name="notify-socket", daemon=True)
        self._thread.start()

    def _read(self) -> None:
        while not self._closing.is_set():
            try:
                self.messages.append(self._sock.recv(65536).decode("utf-8", "replace"))
            except TimeoutError:
                continue
            except OSError:
                return

    def status_lines(self) -> list[str]:
        """Every ``STATUS=`` the device sent."""
        return [
            line.removeprefix("STATUS=")
            for message in list(self.messages)
            for line in message.splitlines()
            if line.startswith("STATUS=")
        ]

    def close(self) -> None:
        self._closing.set()
        self._thread.join(2.0)
        self._sock.close()


@pytest.fixture
def notify(tmp_path: Path) -> Iterator[NotifySocket]:
    sock = NotifySocket(tmp_path / "notify.sock")
    try:
        yield sock
    finally:
        sock.close()


@pytest.fixture
def recorder() -> Iterator[CredentialRecorder]:
    """The second host on 127.0.0.2: records every connection and every byte it receives."""
    made = CredentialRecorder()
    try:
        made.start()
        yield made
    finally:
        made.close()


@pytest.fixture
def hostile(lab: LabProcess, recorder: CredentialRecorder) -> Iterator[HostileServer]:
    """The hostile access and WHIP endpoint on 127.0.0.1, proxying good sessions to ``lab``."""
    made = HostileServer(lab.url, recorder)
    try:
        made.start()
        yield made
    finally:
        made.close()
