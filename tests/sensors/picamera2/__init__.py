"""A stand-in for picamera2 on machines without a camera (see tests/sensors/README.md)."""

from __future__ import annotations

import fractions
import threading
import time
from typing import Any

import av
import numpy as np

#: Every camera opened in this process, oldest first (tests inspect and stall them).
CAMERAS: list[Picamera2] = []
#: False: no camera on the connector (a loose ribbon, a camera not plugged in yet).
ATTACHED = True


class Picamera2:
    """One opened camera; ``start_recording`` runs its sensor + encoder thread."""

    def __init__(self, camera_num: int = 0) -> None:
        if not ATTACHED:
            # picamera2 looks the camera up in libcamera's list: with none, an IndexError.
            raise IndexError("list index out of range")
        self.camera_num = camera_num
        self.size = (640, 480)
        self.fps = 30.0
        self.closed = False
        self.encoder: Any = None
        self._output: Any = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._stalled = threading.Event()
        CAMERAS.append(self)

    def create_video_configuration(
        self, main: dict[str, Any] | None = None, controls: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        return {"main": dict(main or {}), "controls": dict(controls or {})}

    def configure(self, configuration: dict[str, Any]) -> None:
        self.size = tuple(configuration["main"].get("size", self.size))
        self.fps = float(configuration["controls"].get("FrameRate", self.fps))

    def start_recording(self, encoder: Any, output: Any) -> None:
        self.encoder, self._output = encoder, output
        output.start()
        self._thread = threading.Thread(target=self._run, name="fake-picamera2", daemon=True)
        self._thread.start()

    def stall(self) -> None:
        """Wedge the sensor: the camera stays open but no picture comes out any more."""
        self._stalled.set()

    def stop_recording(self) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(5)
        if self._output is not None:
            self._output.stop()

    def close(self) -> None:
        self.closed = True

    def _run(self) -> None:
        width, height = self.size
        codec = av.CodecContext.create("libx264", "w")
        codec.width, codec.height, codec.pix_fmt = width, height, "yuv420p"
        codec.time_base = fractions.Fraction(1, round(self.fps))
        iperiod = self.encoder.iperiod or 60
        codec.options = {
            "preset": "ultrafast",
            "tune": "zerolatency",
            "x264-params": f"keyint={iperiod}:min-keyint={iperiod}:scenecut=0:"
            f"repeat-headers=1:forced-idr=1",
        }
        period = 1.0 / self.fps
        start = time.monotonic()
        index = 0
        while not self._stopping.is_set():
            wait = start + index * period - time.monotonic()
            if wait > 0 and self._stopping.wait(wait):
                return
            image = np.full((height * 3 // 2, width), 128, dtype=np.uint8)
            x = (index * 4) % width
            image[:height, x : x + 8] = 235
            frame = av.VideoFrame.from_ndarray(image, format="yuv420p")
            frame.pts = index
            if self.encoder.take_forced_key_frame():
                frame.pict_type = av.video.frame.PictureType.I
            index += 1
            for packet in codec.encode(frame):
                if self._stalled.is_set():
                    continue
                self._output.outputframe(
                    bytes(packet), packet.is_keyframe, time.monotonic_ns() // 1000
                )
