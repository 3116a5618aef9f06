"""When an update may switch releases, and whether the new one came up (no sleeping)."""

from __future__ import annotations

from typing import Any

import pytest

from alo_edge.release.__main__ import run_gate, wait_idle
from alo_edge.release.gate import UnitSnapshot, Verdict, idle_verdict, judge


def unit(status: str = "", *, state: str = "active", sub: str = "running", restarts: int = 0,
         pid: int = 100, result: str = "success") -> UnitSnapshot:  # fmt: skip
    return UnitSnapshot(state, sub, status, restarts, pid, result)


CONNECTED = unit("CONNECTED: connected")
RETRYING = unit("RECONNECT_PENDING: reconnecting (HTTP 503), next attempt in 4 s (retry 2)")


def test_connected_is_healthy() -> None:
    assert judge(CONNECTED, unit("CONNECTING: connecting"), CONNECTED, 3.0, 60.0) == (
        Verdict.HEALTHY,
        "CONNECTED",
    )


def test_still_connecting_within_the_time_is_wait() -> None:
    verdict, _ = judge(CONNECTED, unit("CONNECTING: connecting"), unit("CONNECTING: x"), 5, 60)

    assert verdict is Verdict.WAIT


def test_not_connected_in_time_where_the_old_one_was_is_broken() -> None:
    verdict, reason = judge(CONNECTED, unit("ACQUIRING_ACCESS: a"), RETRYING, 60.0, 60.0)

    assert verdict is Verdict.BROKEN
    assert reason.startswith("not CONNECTED within 60 s (last: RECONNECT_PENDING")
    assert reason.endswith("the old release was")


def test_retrying_where_the_old_one_was_retrying_too_is_not_the_releases_fault() -> None:
    verdict, reason = judge(RETRYING, unit("ACQUIRING_ACCESS: a"), RETRYING, 2.0, 60.0)

    assert verdict is Verdict.HEALTHY
    assert "the old release was RECONNECT_PENDING too" in reason


def test_retrying_on_a_first_install_is_healthy() -> None:
    verdict, reason = judge(None, unit("ACQUIRING_ACCESS: a"), RETRYING, 2.0, 60.0)

    assert verdict is Verdict.HEALTHY
    assert "the old release was not running too" in reason


def test_a_restart_by_systemd_is_broken_at_once() -> None:
    crashed = unit("ACQUIRING_ACCESS: a", state="activating", sub="auto-restart", restarts=1,
                   pid=0, result="exit-code")  # fmt: skip

    verdict, reason = judge(CONNECTED, unit("ACQUIRING_ACCESS: a"), crashed, 1.0, 60.0)

    assert verdict is Verdict.BROKEN
    assert reason == "the service exited and systemd restarted it (exit-code)"


def test_a_failed_unit_is_broken_at_once() -> None:
    failed = unit("", state="failed", sub="failed", pid=0, result="exit-code")

    verdict, reason = judge(CONNECTED, unit("ACQUIRING_ACCESS: a"), failed, 0.5, 60.0)

    assert (verdict, reason) == (Verdict.BROKEN, "the service stopped (failed, exit-code)")


def test_unit_snapshot_reads_systemctl_show() -> None:
    snapshot = UnitSnapshot.from_properties(
        {
            "ActiveState": "active",
            "SubState": "running",
            "StatusText": "ERROR: error (x)",
            "NRestarts": "2",
            "MainPID": "321",
            "Result": "success",
        }
    )

    assert snapshot == unit("ERROR: error (x)", restarts=2, pid=321)
    assert snapshot.connection_state == "ERROR"
    assert unit("starting up").connection_state is None
    assert UnitSnapshot.from_properties(snapshot.to_dict()) == snapshot


@pytest.mark.parametrize(
    ("status", "idle", "reason"),
    [
        (None, True, "the running release's /status does not answer: nobody can be talking"),
        ({"state": "CONNECTED"}, True, "the running release does not report talk activity"),
        ({"talk": {"active": False, "reason": "nobody is talking"}}, True, "nobody is talking"),
        (
            {"talk": {"active": True, "reason": "the far end spoke 3 s ago"}},
            False,
            "someone is talking (the far end spoke 3 s ago)",
        ),
    ],
)
def test_idle_verdict(status: dict[str, Any] | None, idle: bool, reason: str) -> None:
    assert idle_verdict(status) == (idle, reason)


class FakeTime:
    def __init__(self) -> None:
        self.now = 0.0

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def test_wait_idle_waits_for_the_conversation_to_end() -> None:
    time = FakeTime()
    answers = iter([True, True, True, False])

    def fetch(url: str) -> dict[str, Any]:
        return {"talk": {"active": next(answers), "reason": "r"}}

    assert wait_idle("http://x/status", 60, 1.0, fetch, time.clock, time.sleep) == (True, "r")
    assert time.now == 3.0


def test_wait_idle_gives_up_at_its_timeout() -> None:
    time = FakeTime()

    def fetch(url: str) -> dict[str, Any]:
        return {"talk": {"active": True, "reason": "push-to-talk is held"}}

    idle, reason = wait_idle("http://x/status", 10, 1.0, fetch, time.clock, time.sleep)

    assert (idle, reason) == (False, "someone is talking (push-to-talk is held)")
    assert time.now == 10.0


def test_gate_watches_until_connected() -> None:
    time = FakeTime()
    looks = iter(
        [unit("ACQUIRING_ACCESS: a"), unit("CONNECTING: c"), unit("CONNECTING: c"), CONNECTED]
    )

    verdict, reason = run_gate("alo-edge.service", CONNECTED, 60, 0.5, lambda u: next(looks),
                               time.clock, time.sleep)  # fmt: skip

    assert (verdict, reason) == (Verdict.HEALTHY, "CONNECTED")
    assert time.now == 1.0
