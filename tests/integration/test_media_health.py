"""Source health: a camera that stalls is restarted while the session stays CONNECTED.

The camera is alo-edge's real picamera2 adapter over the stand-in sensor in
tests/sensors (the only faked hardware): it encodes on its own thread and calls the
adapter's output as picamera2 does, and ``stall()`` wedges it.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from types import ModuleType

import pytest

from alo_edge.system.health import SourceHealth
from tests.integration.media_lab import InProcessLab, start_device, stop_device

pytestmark = pytest.mark.integration


async def test_a_stalled_camera_is_restarted_within_5_s_while_connected(
    tmp_path: Path, fake_picamera2: ModuleType
) -> None:
    async with InProcessLab(tmp_path) as lab:
        config = lab.device_config(
            "cam",
            video={"source": "picamera2", "width": 320, "height": 240, "keyframe_interval": 4},
            audio={"source": "none"},
        )
        video, log = await start_device(config)
        health = SourceHealth()
        await health.start(video)
        try:
            await lab.wait_for("cam", lambda r: r["framesDecoded"] >= 30)
            cameras = fake_picamera2.CAMERAS
            assert len(cameras) == 1
            assert cameras[0].encoder.iperiod == 120  # 4 s at 30 fps
            assert cameras[0].encoder.forced >= 1  # the connection-up keyframe reached it

            stalled_at = time.monotonic()
            cameras[0].stall()
            await asyncio.sleep(0.5)  # pictures already on their way still arrive
            frozen = (await lab.report("cam"))["framesDecoded"]
            await lab.wait_for("cam", lambda r: r["framesDecoded"] > frozen + 5, timeout=10)
            recovered_after = time.monotonic() - stalled_at

            assert len(cameras) == 2  # reopened, not just waited out
            assert cameras[0].closed
            assert recovered_after < 5.0, f"pictures came back after {recovered_after:.1f} s"
            assert log.states == ["ACQUIRING_ACCESS", "CONNECTING", "CONNECTED"]
            warnings = [d["warning"] for d in log.of("onDeviceListUpdate") if "warning" in d]
            assert len(warnings) == 1
            assert "picamera2:0" in warnings[0]
            assert health.restarts == {"picamera2:0": 1}
        finally:
            await health.stop()
            await stop_device(video)
