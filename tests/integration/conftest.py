"""Fixtures for tests that run `alo-edge` as real processes against a real lab.

``procs`` and ``lab`` are shared with the browser tier (``tests/conftest.py``).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import Proc, Processes, write_toml


@pytest.fixture
def start_device(procs: Processes, tmp_path: Path) -> Callable[..., Proc]:
    """Writes a config and starts `alo-edge run -c CONFIG --events -` on it."""

    def start(document: dict[str, dict[str, Any]], name: str = "device") -> Proc:
        config = write_toml(tmp_path / f"{name}.toml", document)
        return procs.cli("run", "-c", str(config), "--events", "-", name=name)

    return start
