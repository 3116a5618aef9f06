"""Is the clock synchronized: timesyncd's files, the kernel, timedated; and STATUS= saying so."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any, cast

from alo_edge.events import Event, EventTarget
from alo_edge.session.view import SessionView
from alo_edge.system.components import SystemdStatus
from alo_edge.system.notify import Notifier
from alo_edge.system.timesync import NOT_SYNCHRONIZED, TimeSync, TimeSyncReader
from alo_edge.system.timesync_watch import TimeSyncWatch


def no_runner(argv: Sequence[str]) -> str | None:
    raise AssertionError(f"not expected to run {argv}")


def test_timesyncd_flag_means_synchronized(tmp_path: Path) -> None:
    (tmp_path / "run/systemd/timesync").mkdir(parents=True)
    (tmp_path / "run/systemd/timesync/synchronized").touch()

    answer = TimeSyncReader(tmp_path, kernel=lambda: False, runner=no_runner).read()

    assert answer == TimeSync(True, "systemd-timesyncd")


def test_timesyncd_running_without_its_flag_means_not_yet(tmp_path: Path) -> None:
    (tmp_path / "run/systemd/timesync").mkdir(parents=True)

    answer = TimeSyncReader(tmp_path, kernel=lambda: True, runner=no_runner).read()

    assert answer.synchronized is False
    assert answer.message == (f"{NOT_SYNCHRONIZED} (systemd-timesyncd has not synchronized yet)")


def test_without_timesyncd_the_kernel_answers(tmp_path: Path) -> None:
    assert TimeSyncReader(tmp_path, kernel=lambda: True, runner=no_runner).read() == TimeSync(
        True, "kernel NTP state"
    )
    assert TimeSyncReader(tmp_path, kernel=lambda: False, runner=no_runner).read() == TimeSync(
        False, "kernel NTP state"
    )


def test_where_adjtimex_is_refused_timedated_answers(tmp_path: Path) -> None:
    # The service's unit has ProtectClock=yes: adjtimex() fails with EPERM there.
    calls: list[list[str]] = []

    def runner(argv: Sequence[str]) -> str | None:
        calls.append(list(argv))
        return "no\n"

    answer = TimeSyncReader(tmp_path, kernel=lambda: None, runner=runner).read()

    assert answer == TimeSync(False, "timedatectl")
    assert calls == [["timedatectl", "show", "--property=NTPSynchronized", "--value"]]


def test_nobody_answering_is_unknown_not_unsynchronized(tmp_path: Path) -> None:
    answer = TimeSyncReader(tmp_path, kernel=lambda: None, runner=lambda argv: None).read()

    assert answer.synchronized is None
    assert answer.message.startswith("cannot tell whether the system clock is synchronized")


class RecordingNotifier(Notifier):
    def __init__(self) -> None:
        super().__init__(environ={})
        self.lines: list[str] = []

    def status(self, text: str) -> None:
        self.lines.append(text)


class Session:
    """Only what SystemdStatus uses of a session: its events."""

    def __init__(self) -> None:
        self.events = EventTarget()


async def test_status_line_says_the_clock_is_not_synchronized_until_it_is() -> None:
    watch = TimeSyncWatch(reader=TimeSyncReader(kernel=lambda: None, runner=lambda a: None))
    notifier = RecordingNotifier()
    status = SystemdStatus(notifier, note=watch.note)
    watch.on_change = status.refresh
    session = Session()
    await status.start(cast(SessionView, session))
    watch.update(TimeSync(False, "kernel NTP state"))
    connected: dict[str, Any] = {"state": "CONNECTED", "stateMessage": "connected"}

    session.events.dispatch_event(Event("onConnectionChange", connected))
    watch.update(TimeSync(True, "kernel NTP state"))
    watch.update(TimeSync(True, "kernel NTP state"))  # no change: no new line

    assert notifier.lines == [
        f"CONNECTED: connected; {NOT_SYNCHRONIZED}",
        "CONNECTED: connected",
    ]
    assert watch.status() == {
        "synchronized": True,
        "source": "kernel NTP state",
        "message": "the system clock is synchronized (kernel NTP state)",
    }


async def test_start_does_not_wait_for_a_slow_answer() -> None:
    # timedatectl may take seconds to activate timedated: READY=1 must not wait for it.
    release = threading.Event()

    def slow(argv: Sequence[str]) -> str | None:
        release.wait(5)
        return "yes\n"

    watch = TimeSyncWatch(reader=TimeSyncReader(Path("/nonexistent"), lambda: None, slow))
    await asyncio.wait_for(watch.start(cast(SessionView, Session())), 0.5)
    assert watch.current is None
    release.set()
    for _ in range(100):
        if watch.current is not None:
            break
        await asyncio.sleep(0.02)
    await watch.stop()

    assert watch.current == TimeSync(True, "timedatectl")
