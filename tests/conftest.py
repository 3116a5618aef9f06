"""Suite-wide rules (in CI every test must run, so a skip there fails the run) and the
fixtures the process tiers share (integration, browser)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import LabProcess, Processes


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if os.environ.get("CI") != "true":
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
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
