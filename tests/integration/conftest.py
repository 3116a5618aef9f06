"""Fixtures for tests that run `alo-edge` as real processes against a real lab."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import LabProcess, Proc, Processes, write_toml


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


@pytest.fixture
def start_device(procs: Processes, tmp_path: Path) -> Callable[..., Proc]:
    """Writes a config and starts `alo-edge run -c CONFIG --events -` on it."""

    def start(document: dict[str, dict[str, Any]], name: str = "device") -> Proc:
        config = write_toml(tmp_path / f"{name}.toml", document)
        return procs.cli("run", "-c", str(config), "--events", "-", name=name)

    return start
