"""A camera that cannot be opened yet: the session waits for it with the reconnect backoff.

Driven through the public AloVideo on fake time (no sleeps): the camera is a synthetic
source that refuses to open a given number of times, as a USB camera that enumerates
late does.
"""

from __future__ import annotations

from typing import Any

from alo_edge import errors
from alo_edge.api import AloVideo, VideoUser
from alo_edge.config import config_from_dict
from alo_edge.errors import DeviceMissingError, HardwareError
from alo_edge.media.synthetic import SyntheticVideoSource
from alo_edge.session.states import ConnectionState
from tests.fakes import FakeClock, InMemoryConnection, InMemoryTransport, StateRecorder

ACQ, CONNECTING, CONNECTED = "ACQUIRING_ACCESS", "CONNECTING", "CONNECTED"
ERROR, PENDING = "ERROR", "RECONNECT_PENDING"
MISSING = "camera /dev/video0 cannot be opened: No such file or directory"


class LateCamera(SyntheticVideoSource):
    """A camera whose first ``refusals`` opens fail, as a device that is not there yet."""

    def __init__(self, refusals: int) -> None:
        super().__init__(64, 48, 5)
        self.refusals = refusals
        self.opens = 0

    @property
    def device_id(self) -> str:
        return "/dev/video0"

    async def start(self) -> None:
        self.opens += 1
        if self.opens <= self.refusals:
            raise HardwareError(MISSING)
        await super().start()


def video_with(camera: LateCamera, transport: InMemoryTransport, clock: FakeClock) -> AloVideo:
    config = config_from_dict(
        {
            "device": {"user_id": "door-1"},
            "alo": {"url": "http://127.0.0.1:9/whip/front", "channel": "front"},
        }
    )
    return AloVideo(
        VideoUser("door-1"),
        "opaque-token",
        config=config,
        video_source=camera,
        transports={"whip": transport},
        clock=clock,
        random_source=lambda: 0.0,  # the whole window: waits of exactly 1 s, 2 s, 4 s ...
    )


async def test_a_camera_missing_at_start_is_retried_with_backoff_until_it_appears() -> None:
    clock = FakeClock()
    camera = LateCamera(refusals=3)
    transport = InMemoryTransport(InMemoryConnection())
    video = video_with(camera, transport, clock)
    recorder = StateRecorder(video)
    devices: list[dict[str, Any]] = []
    video.events.add_event_listener("onDeviceListUpdate", lambda e: devices.append(e.detail))
    try:
        channel = await video.connect("front")  # returns: no HardwareError, no exit
        assert channel.name == "front"
        await recorder.wait_for_state(CONNECTED)

        waiting = [ACQ, ERROR, "onDisconnect(ERROR)"]
        assert recorder.timeline[:3] == waiting
        assert recorder.timeline[-3:] == [ACQ, CONNECTING, CONNECTED]
        assert [e["message"] for e in recorder.of_state(ERROR)] == [MISSING] * 3
        assert [e["retryCount"] for e in recorder.of_state(ERROR)] == [1, 2, 3]
        assert clock.sleeps == [1.0] + [1.0] * 2 + [1.0] * 4  # 1 s, 2 s, 4 s, ticking
        assert camera.opens == 4
        assert len(transport.opened) == 1  # nothing offered before the camera opened
        assert [d.get("warning") for d in devices] == [
            f"{MISSING}; waiting for it (retrying with backoff)",  # once, not per retry
            None,  # the camera is there: the device list without a warning
        ]
        assert devices[-1]["devices"] == [{"kind": "video", "deviceId": "/dev/video0"}]
    finally:
        await video.disconnect()
        camera.stop()


async def test_while_waiting_the_last_error_is_a_retryable_hardware_error() -> None:
    clock = FakeClock()
    clock.hold()  # stay inside the first wait
    camera = LateCamera(refusals=1)
    video = video_with(camera, InMemoryTransport(InMemoryConnection()), clock)
    recorder = StateRecorder(video)
    try:
        await video.connect("front")
        await recorder.wait_for_state(PENDING)
        assert video.connection_state == ConnectionState.RECONNECT_PENDING
        error = video.last_error
        assert isinstance(error, DeviceMissingError)
        assert isinstance(error, HardwareError)
        assert (error.retryable, error.kind) == (True, "hardware")
        task = video.supervisor_task
        assert task is not None
        assert not task.done()  # the session goes on: nobody exits 69
    finally:
        clock.release()
        await video.disconnect()
        camera.stop()


def test_every_error_names_its_kind_from_one_fixed_set() -> None:
    # The kind is a metric label (alo_edge_last_error_info{kind}): its values must be few.
    classes = [
        errors.ConfigError,
        errors.HardwareError,
        errors.DeviceMissingError,
        errors.AuthError,
        errors.TransportError,
        errors.SignallingError,
        errors.AloEdgeError,
    ]
    assert [cls.kind for cls in classes] == [
        "config", "hardware", "hardware", "auth", "network", "server", "other",
    ]  # fmt: skip
    assert {cls.kind for cls in classes} == set(errors.ERROR_KINDS)
