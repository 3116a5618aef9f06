"""Fixtures for tests that run `alo-edge` as real processes against a real lab.

``procs`` and ``lab`` are shared with the browser tier (``tests/conftest.py``).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from tests.helpers import Proc, Processes, write_toml
from tests.media_support import SENSORS


@pytest.fixture
def fake_picamera2(monkeypatch: pytest.MonkeyPatch) -> Iterator[ModuleType]:
    """The stand-in ``picamera2`` (tests/sensors) importable, as on a Pi, for one test."""
    monkeypatch.syspath_prepend(str(SENSORS))
    import picamera2

    try:
        yield picamera2
    finally:
        # Later tests must see a machine without picamera2 again.
        for name in [n for n in sys.modules if n == "picamera2" or n.startswith("picamera2.")]:
            del sys.modules[name]


@pytest.fixture
def start_device(procs: Processes, tmp_path: Path) -> Callable[..., Proc]:
    """Writes a config and starts `alo-edge run -c CONFIG --events -` on it."""

    def start(document: dict[str, dict[str, Any]], name: str = "device") -> Proc:
        config = write_toml(tmp_path / f"{name}.toml", document)
        return procs.cli("run", "-c", str(config), "--events", "-", name=name)

    return start
