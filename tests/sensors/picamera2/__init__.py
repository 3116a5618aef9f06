"""A stand-in for picamera2 on machines without a camera (see tests/sensors/README.md)."""

from __future__ import annotations

import threading
import time
from typing import Any

import numpy as np

from alo_edge.media.stamp import draw_stamp

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
        self.encoder._start(width, height, self.fps)
        scene = Scene(width, height)
        period = 1.0 / self.fps
        start = time.monotonic()
        index = 0
        try:
            while not self._stopping.is_set():
                wait = start + index * period - time.monotonic()
                if wait > 0 and self._stopping.wait(wait):
                    return
                picture = scene.picture(index, int(time.time() * 1000))
                for packet in self.encoder._encode(picture, index):
                    if self._stalled.is_set():
                        continue
                    self._output.outputframe(
                        bytes(packet), packet.is_keyframe, time.monotonic_ns() // 1000
                    )
                index += 1
        finally:
            self.encoder._stop()


class Scene:
    """What the stand-in sensor sees: a door camera's view, stamped like the synthetic source.

    A still, textured background (so the encoder has detail to spend its bitrate on),
    a figure walking across it, and a little sensor noise on every picture; the top
    rows carry the picture stamp (counter and capture time, ``alo_edge.media.stamp``)
    so the lab measures capture-to-decode latency as it does for the synthetic source.
    """

    NOISE_PLANES = 8

    def __init__(self, width: int, height: int) -> None:
        rng = np.random.default_rng(2024)
        self.width, self.height = width, height
        cells = rng.integers(30, 220, (height // 16 + 1, width // 16 + 1)).astype(np.int16)
        background = np.kron(cells, np.ones((16, 16), np.int16))[:height, :width]
        background += rng.integers(-20, 21, (height, width), dtype=np.int16)
        self.background = background
        self.noise = [
            rng.integers(-3, 4, (height, width), dtype=np.int16) for _ in range(self.NOISE_PLANES)
        ]

    def picture(self, index: int, capture_ms: int) -> np.ndarray:
        """The ``index``-th yuv420p picture, captured at ``capture_ms`` (wall clock)."""
        width, height = self.width, self.height
        luma = self.background + self.noise[index % self.NOISE_PLANES]
        figure = max(width // 8, 8)
        x = (index * max(width // 160, 1)) % max(width - figure, 1)
        luma[height // 4 : height * 5 // 6, x : x + figure] = 60 + index % 50
        picture = np.full((height * 3 // 2, width), 128, dtype=np.uint8)
        picture[:height] = np.clip(luma, 0, 255)
        draw_stamp(picture[:height], index, capture_ms)
        return picture
