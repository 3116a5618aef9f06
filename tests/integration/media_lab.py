"""The lab and a device in the test's own event loop, for the media tests.

Real parts only: the lab's aiohttp app and aiortc ingest on 127.0.0.1, a device built
by the composition root from a config, WHIP between them.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Any

from alo_edge.api import AloVideo
from alo_edge.app import build_video
from alo_edge.config import Config
from alo_edge.events import Event
from alo_edge.lab import LabServer, LabSettings, mint_token
from alo_edge.lab.client import LabClient
from alo_edge.tools.lab_device import device_config

STEP = 10.0


class InProcessLab:
    """``async with InProcessLab(tmp_path) as lab``: a lab, a device token, and polling."""

    def __init__(self, tmp_path: Path) -> None:
        self._tmp = tmp_path
        self.settings = LabSettings(api_key=secrets.token_hex(16), secret=secrets.token_hex(32))
        self.server = LabServer(self.settings)
        self._client: LabClient | None = None

    async def __aenter__(self) -> InProcessLab:
        await self.server.start()
        self._client = LabClient(self.server.url, timeout=STEP)
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        assert self._client is not None
        await self._client.close()
        await asyncio.wait_for(self.server.stop(), STEP)

    def device_config(
        self, channel: str, *, video: dict[str, Any], audio: dict[str, Any], user: str = "door-1"
    ) -> Config:
        """A loopback-only device config publishing into ``channel`` through the access step."""
        token_file = self._tmp / f"{user}.token"
        token_file.write_text(mint_token(self.settings.secret, user, 60, time.time()) + "\n")
        return device_config(
            self.server.url,
            token_file,
            channel=channel,
            device={"user_id": user},
            video=video,
            audio=audio,
        )

    async def report(self, channel: str) -> dict[str, Any]:
        """The lab's ``GET /api/channels`` entry for ``channel`` ({} before it exists)."""
        assert self._client is not None
        return await self._client.channel_report(channel)

    async def wait_for(
        self,
        channel: str,
        predicate: Callable[[dict[str, Any]], bool],
        timeout: float = STEP,
        interval: float = 0.1,
    ) -> dict[str, Any]:
        """Poll the lab until ``channel``'s report satisfies ``predicate``; bounded."""
        deadline = time.monotonic() + timeout
        while True:
            report = await self.report(channel)
            if report and predicate(report):
                return report
            if time.monotonic() > deadline:
                raise AssertionError(f"channel {channel!r} after {timeout} s: {report}")
            await asyncio.sleep(interval)


class EventLog:
    """Every SDK event of an AloVideo, with bounded waits that do not spin."""

    NAMES = ("onConnectionChange", "onPublishedStreamChange", "onDeviceListUpdate")

    def __init__(self, video: AloVideo) -> None:
        self.events: list[Event] = []
        self._changed = asyncio.Event()
        for name in self.NAMES:
            video.events.add_event_listener(name, self._record)

    def _record(self, event: Event) -> None:
        self.events.append(event)
        self._changed.set()

    def of(self, name: str) -> list[dict[str, Any]]:
        return [e.detail for e in self.events if e.type == name]

    @property
    def states(self) -> list[str]:
        return [d["state"] for d in self.of("onConnectionChange")]

    async def wait_for(self, predicate: Callable[[], bool], timeout: float = STEP) -> None:
        deadline = time.monotonic() + timeout
        while not predicate():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"not within {timeout} s; events: {self.events}")
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), remaining)


async def start_device(config: Config) -> tuple[AloVideo, EventLog]:
    """Build the device from ``config`` and connect it (devices open here)."""
    video = build_video(config)
    log = EventLog(video)
    await video.connect(config.alo.channel)
    return video, log


async def stop_device(video: AloVideo) -> None:
    """Leave the channel and release the devices, as the service does."""
    await asyncio.wait_for(video.disconnect(), STEP)
    for source in video.media_sources:
        source.stop()
