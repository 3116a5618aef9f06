"""The ``v4l2`` source through PyAV, with FFmpeg's lavfi ``testsrc`` standing in for a camera."""

from __future__ import annotations

import asyncio
import itertools
import time
from pathlib import Path

import pytest

from alo_edge.api import AloVideo, VideoUser
from alo_edge.app import build_transports
from alo_edge.errors import HardwareError
from alo_edge.lab import mint_token
from alo_edge.media.v4l2 import V4l2Source
from alo_edge.transport.ice import pin_host_addresses
from tests.integration.media_lab import EventLog, InProcessLab, stop_device

pytestmark = pytest.mark.integration

TESTSRC = "testsrc=size=160x120:rate=30"


def stand_in_camera() -> V4l2Source:
    return V4l2Source(TESTSRC, 160, 120, 30, input_format="lavfi")


async def test_an_input_faster_than_real_time_is_paced_to_its_frame_rate() -> None:
    source = stand_in_camera()
    await source.start()
    try:
        track = source.track
        await track.recv()
        started = time.monotonic()
        frames = [await track.recv() for _ in range(15)]
    finally:
        source.stop()

    assert 0.43 <= time.monotonic() - started < 1.0  # 15 frames at 30 fps
    assert {(f.width, f.height) for f in frames} == {(160, 120)}
    assert all(b.pts > a.pts for a, b in itertools.pairwise(frames))


async def test_a_missing_camera_is_a_hardware_error() -> None:
    source = V4l2Source("/dev/video-none-here", 640, 480, 30)
    with pytest.raises(HardwareError, match="/dev/video-none-here"):
        await source.start()
    source.stop()


async def test_the_stand_in_camera_reaches_the_lab_and_survives_a_restart(
    tmp_path: Path,
) -> None:
    async with InProcessLab(tmp_path) as lab:
        config = lab.device_config("usb", video={"source": "v4l2"}, audio={"source": "none"})
        token = mint_token(lab.settings.secret, "door-1", 60, time.time())
        pin_host_addresses(config.network.host_addresses)
        source = stand_in_camera()
        video = AloVideo(
            VideoUser("door-1"),
            token,
            config=config,
            video_source=source,
            transports=build_transports(config, talkback=False),
        )
        log = EventLog(video)
        await video.connect("usb")
        try:
            await lab.wait_for("usb", lambda r: r["framesDecoded"] >= 10)
            before, started = (await lab.report("usb"))["framesDecoded"], time.monotonic()
            await asyncio.sleep(1.5)
            report = await lab.report("usb")
            rate = (report["framesDecoded"] - before) / (time.monotonic() - started)
            assert rate >= 25, report
            assert (report["width"], report["height"]) == (160, 120)

            await source.restart()
            after_restart = report["framesDecoded"]
            await lab.wait_for("usb", lambda r: r["framesDecoded"] > after_restart + 30)
            assert log.states == ["ACQUIRING_ACCESS", "CONNECTING", "CONNECTED"]
        finally:
            await stop_device(video)
