"""Suite-wide rules (in CI every test must run, so a skip there fails the run) and the
fixtures the process tiers share (integration, browser)."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.arm64 import background as arm64_background
from tests.helpers import TOKEN_LEAKS, LabProcess, Processes, record_token_leaks


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    # Everything a test's own process printed or logged (the child processes' stderr is
    # checked by Processes.cleanup): no token may appear in any of it, in any test.
    if report.when != "teardown":
        return  # the teardown report carries every section of the test: read each once
    for name, content in report.sections:
        record_token_leaks(f"{report.nodeid} [{name}]", content.splitlines())


def _is_arm64(item: pytest.Item) -> bool:
    return item.nodeid.startswith("tests/arm64/")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # The arm64 tier (qemu-user) runs last: its rootfs (~5 min cold) builds meanwhile.
    items[:] = [item for item in items if not _is_arm64(item)] + list(filter(_is_arm64, items))


def pytest_collection_finish(session: pytest.Session) -> None:
    # Start the arm64 rootfs build (niced, idle I/O) now, in the background, while the other
    # tiers run; tests/arm64's rootfs fixture waits for it.
    if not session.config.option.collectonly and any(map(_is_arm64, session.items)):
        arm64_background.start(Path(tempfile.mkdtemp(prefix="alo-edge-arm64-")))


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if TOKEN_LEAKS:
        for leak in TOKEN_LEAKS:
            reporter.write_line(f"token in a log line: {leak}")
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
    if os.environ.get("CI") != "true":
        return
    skipped = len(reporter.stats.get("skipped", [])) if reporter else 0
    if skipped:
        reporter.write_line(f"CI=true: {skipped} test(s) skipped; in CI every tier must run")
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


@pytest.fixture
def procs() -> Iterator[Processes]:
    """Starts processes; kills each one's process group at teardown, pass or fail."""
    processes = Processes()
    try:
        yield processes
    finally:
        processes.cleanup()


@pytest.fixture
def lab(procs: Processes, tmp_path: Path) -> LabProcess:
    """`alo-edge lab` on a free loopback port, answering ``GET /api/channels``."""
    server = LabProcess(procs, tmp_path / "lab-state")
    server.start()
    return server
