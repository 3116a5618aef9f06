"""Fixtures for the browser tier: a real headless Chromium, a real lab, real devices.

Every process is started in its own process group and killed by PID at teardown,
pass or fail (``procs`` and ``lab`` come from ``tests/conftest.py``). Chromium comes
from the test command (scripts/setup installs Debian's package); without it these
tests skip, which CI (CI=true) counts as a failure.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.browser.chromium import WEBRTC_FLAGS, Chromium, Page, chromium_path
from tests.helpers import Proc, alo_edge_command, write_toml

#: Screenshots and Chromium logs land here (gitignored), for a person to look at.
ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts" / "browser"


@pytest.fixture
def start_device(tmp_path: Path) -> Iterator[Callable[..., Proc]]:
    """Starts `alo-edge run -c CONFIG --events -`, optionally with extra environment."""
    started: list[Proc] = []

    def start(document: dict[str, dict[str, Any]], env: dict[str, str] | None = None) -> Proc:
        config = write_toml(tmp_path / f"device-{len(started)}.toml", document)
        proc = Proc(
            [*alo_edge_command(), "run", "-c", str(config), "--events", "-"],
            name=f"device-{len(started)}",
            env={**os.environ, **(env or {})},
        )
        started.append(proc)
        return proc

    try:
        yield start
    finally:
        for proc in reversed(started):
            proc.kill()


@pytest.fixture
def chromium(tmp_path: Path) -> Iterator[Chromium]:
    """A started headless Chromium (WebRTC on loopback, fake camera and microphone)."""
    if chromium_path() is None:
        pytest.skip("chromium is not installed: scripts/setup installs it (apt package chromium)")
    browser = Chromium(tmp_path / "chromium-profile", WEBRTC_FLAGS)
    try:
        browser.start()
        yield browser
    finally:
        browser.kill()


@pytest.fixture
async def page(chromium: Chromium) -> AsyncIterator[Page]:
    """One page in that Chromium, over the DevTools protocol."""
    assert chromium.popen is not None
    async with aiohttp.ClientSession() as http:
        browser_ws = chromium.websocket_url
        assert browser_ws is not None
        opened = await Page.open(http, browser_ws)
        try:
            yield opened
        finally:
            await opened.close()
