"""The camera's bitrate follows what the far end reports, through real aiortc and libx264.

The camera is alo-edge's picamera2 adapter over the stand-in sensor (tests/sensors:
libx264 behind picamera2's software-encoder face); the far end is the lab, an aiortc
receiver sending real RTCP receiver reports and REMB.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from types import ModuleType

import pytest

from alo_edge.media.adaptive import RateControlled
from tests.integration.media_lab import InProcessLab, start_device, stop_device

pytestmark = pytest.mark.integration

CAMERA = {
    "source": "picamera2",
    "width": 640,
    "height": 360,
    "bitrate": 1_500_000,
    "min_bitrate": 200_000,
    "keyframe_interval": 1,
}


async def wait_until(predicate: object, within: float, what: str) -> None:
    deadline = time.monotonic() + within
    while not predicate():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"waited {within:g} s for {what}"
        await asyncio.sleep(0.1)


async def test_the_far_ends_reports_reach_the_rate_control_and_a_cut_reaches_libx264(
    tmp_path: Path, fake_picamera2: ModuleType
) -> None:
    async with InProcessLab(tmp_path) as lab:
        config = lab.device_config("cam", video=CAMERA, audio={"source": "none"})
        video, _ = await start_device(config)
        try:
            [source] = video.media_sources
            assert isinstance(source, RateControlled)
            control = source.rate_control
            await lab.wait_for("cam", lambda r: r["framesDecoded"] >= 30)

            # The lab's receiver reports arrive: loss, jitter and an RTT from LSR/DLSR.
            await wait_until(
                lambda: control.status()["roundTripTime"] is not None, 10, "a receiver report"
            )
            status = control.status()
            assert status["adapts"] is True
            assert status["lossFraction"] == 0.0
            assert 0 <= status["roundTripTime"] < 0.5
            assert status["targetBitrate"] == 1_500_000

            # The link loses half the packets (as a receiver would report it): the target
            # drops, and libx264 is reopened at that bitrate at its next IDR.
            encoder = fake_picamera2.CAMERAS[0].encoder
            control.on_receiver_report(0.5, 0.002, 0.01)
            assert control.target == 0.75 * 1_500_000  # GCC: 1 - 0.5 x loss
            await wait_until(lambda: encoder.opened_bitrates[-1] < 1_250_000, 5, "the reopen")
            await lab.wait_for("cam", lambda r: r["fps"] >= 25)  # the picture never stopped
        finally:
            await stop_device(video)
