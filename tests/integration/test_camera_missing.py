"""A camera missing at start is waited for: the device stays up, says so, and connects once
the camera appears (a USB camera that enumerates late, a loose ribbon pushed back in).

The camera is alo-edge's real picamera2 adapter over the stand-in sensor in tests/sensors
(the only faked hardware), unplugged with ``picamera2.ATTACHED = False``; the missing
V4L2 device is a real one (``/dev/video`` numbers nobody has), opened by PyAV.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from gpiozero.pins.mock import MockFactory, MockPWMPin

from alo_edge.app import build_panel
from alo_edge.config import Listen, ReconnectConfig
from alo_edge.config.sections import GpioConfig
from alo_edge.panel import PANEL_LED_EVENT
from alo_edge.system.status import StatusServer
from tests.helpers import Proc, device_config, free_port, http_json, state_is
from tests.integration.media_lab import InProcessLab, stop_device
from tests.integration.media_lab import start_device as start_in_process

pytestmark = pytest.mark.integration

QUICK = ReconnectConfig(initial_delay=0.2, max_delay=0.5)


async def test_a_camera_plugged_in_late_is_waited_for_then_the_session_connects(
    tmp_path: Path, fake_picamera2: ModuleType
) -> None:
    fake_picamera2.ATTACHED = False
    async with InProcessLab(tmp_path) as lab:
        config = lab.device_config(
            "cam",
            video={"source": "picamera2", "width": 320, "height": 240},
            audio={"source": "synthetic"},
        )
        config = dataclasses.replace(
            config,
            reconnect=QUICK,
            gpio=GpioConfig(enabled=True, pin_factory="mock", status_led=17),
        )
        factory = MockFactory(pin_class=MockPWMPin)
        panel = build_panel(config, pin_factory=factory)
        status = StatusServer(config, listen=Listen())
        leds: list[dict[str, Any]] = []
        video, log = await start_in_process(config)
        video.events.add_event_listener(PANEL_LED_EVENT, lambda e: leds.append(e.detail))
        try:
            await panel.start(video)
            await status.start(video)
            # Waiting for the camera: ERROR, the countdown, again and again; no exit.
            await log.wait_for(lambda: log.states.count("ERROR") >= 3)
            error = next(d for d in log.of("onConnectionChange") if d["state"] == "ERROR")
            assert error["message"] == "camera 0 cannot be opened: list index out of range"
            assert "CONNECTING" not in log.states  # nothing is offered without the camera
            warnings = [d["warning"] for d in log.of("onDeviceListUpdate")]
            assert warnings == [
                "camera 0 cannot be opened: list index out of range; "
                "waiting for it (retrying with backoff)"
            ]  # once, not once per retry
            document = status.tracker.status()
            assert document["state"] in ("ERROR", "RECONNECT_PENDING")
            assert document["lastErrorKind"] == "hardware"
            assert "camera 0 cannot be opened" in document["lastError"]
            assert {"led": "status", "pattern": "triple blink every 2 s"}.items() <= next(
                d for d in leds if d["pattern"].startswith("triple")
            ).items()

            fake_picamera2.ATTACHED = True  # the camera appears
            await log.wait_for(lambda: "CONNECTED" in log.states)
            await lab.wait_for("cam", lambda r: r["framesDecoded"] >= 30)
            devices = log.of("onDeviceListUpdate")[-1]
            assert "warning" not in devices
            assert devices["devices"] == [
                {"kind": "video", "deviceId": "picamera2:0"},
                {"kind": "audio", "deviceId": "synthetic-audio"},
            ]
            assert leds[-1]["pattern"] == "on"
        finally:
            await status.stop()
            await panel.stop()
            await stop_device(video)
            factory.close()


def test_the_service_stays_up_and_ready_while_a_v4l2_camera_is_missing(
    start_device: Callable[..., Proc], tmp_path: Path
) -> None:
    port = free_port()
    token = tmp_path / "token"
    token.write_text("opaque-token\n", encoding="utf-8")
    document = device_config(
        user_id="door-1",
        channel="gate",
        token_file=token,
        access_url=f"http://127.0.0.1:{free_port()}/v1/video/access",
        reconnect={"initial_delay": 0.2, "max_delay": 0.5},
    )
    document["video"] = {"source": "v4l2", "device": "/dev/video97"}
    document["status"] = {"listen": f"127.0.0.1:{port}"}
    device = start_device(document)

    device.wait_for(
        lambda e: state_is("ERROR")(e) and e["detail"].get("retryCount", 0) >= 3,
        what="three attempts to open the camera",
    )
    code, status = http_json("GET", f"http://127.0.0.1:{port}/status")
    assert code == 200, status
    assert status["lastErrorKind"] == "hardware"
    assert "/dev/video97" in status["lastError"]
    assert device.running  # 73a265e exited 69 here
