"""USB cameras through PyAV's ``v4l2`` input, encoded by aiortc.

A reader thread decodes pictures from the device (raw YUYV or MJPEG, whatever the
camera gives) and hands them to the event loop through one
:class:`~alo_edge.media.bridge.ThreadBridge`; aiortc encodes them to H.264. Any
FFmpeg input can stand in for the device (tests use ``lavfi`` ``testsrc``); inputs
that produce pictures faster than real time are paced to their own timestamps.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

import av
from av.frame import Frame

from alo_edge.errors import HardwareError
from alo_edge.media.base import VIDEO_CLOCK_RATE, VIDEO_TIME_BASE
from alo_edge.media.bridge import BridgedTrack
from alo_edge.media.device import ThreadedDevice

logger = logging.getLogger(__name__)

#: Raw pictures are large; a couple queued is enough to absorb a busy loop.
QUEUE_FRAMES = 3
JOIN_SECONDS = 2.0


class V4l2Source(ThreadedDevice[Frame, BridgedTrack]):
    """The ``v4l2`` video source: ``device`` (``/dev/video0``) at width x height, fps.

    :meth:`start` opens the device (HardwareError when it cannot be opened),
    :meth:`stop` closes it; :meth:`restart` does both without ending the track.
    """

    kind = "video"

    def __init__(
        self, device: str, width: int, height: int, fps: int, *, input_format: str = "v4l2"
    ) -> None:
        super().__init__(QUEUE_FRAMES, lambda bridge: BridgedTrack("video", bridge))
        self._device = device
        self._width = width
        self._height = height
        self._fps = fps
        self._input_format = input_format
        self._container: Any = None
        self._reader: threading.Thread | None = None
        self._stopping = threading.Event()
        self._epoch = time.monotonic()

    @property
    def device_id(self) -> str:
        return self._device

    def _open(self) -> None:
        options = {}
        if self._input_format == "v4l2":
            options = {"video_size": f"{self._width}x{self._height}", "framerate": str(self._fps)}
        try:
            container = av.open(self._device, format=self._input_format, options=options)
        except (OSError, av.error.FFmpegError) as exc:
            raise HardwareError(f"camera {self._device} cannot be opened: {exc}") from None
        self._container = container
        self._stopping.clear()
        self._reader = threading.Thread(
            target=self._read, args=(container,), name=f"v4l2 {self._device}", daemon=True
        )
        self._reader.start()
        logger.info("camera %s opened (%s)", self._device, self._input_format)

    def _close(self) -> None:
        reader, self._reader = self._reader, None
        self._stopping.set()
        if reader is not None:
            reader.join(JOIN_SECONDS)
            if reader.is_alive():
                # A wedged driver can block a read forever; the thread is a daemon.
                logger.warning(
                    "camera %s reader did not stop within %s s", self._device, JOIN_SECONDS
                )
        container, self._container = self._container, None
        if container is not None and (reader is None or not reader.is_alive()):
            container.close()

    def _read(self, container: Any) -> None:
        started: float | None = None
        first_time = 0.0
        try:
            for frame in container.decode(video=0):
                if self._stopping.is_set():
                    return
                if started is None:
                    started, first_time = time.monotonic(), frame.time or 0.0
                elif frame.time is not None:
                    # A real device blocks until its next picture; a file or lavfi would
                    # race ahead of real time without this.
                    wait = started + (frame.time - first_time) - time.monotonic()
                    if wait > 0 and self._stopping.wait(wait):
                        return
                frame.pts = int((time.monotonic() - self._epoch) * VIDEO_CLOCK_RATE)
                frame.time_base = VIDEO_TIME_BASE
                self._bridge.push(frame)
        except (OSError, av.error.FFmpegError) as exc:
            logger.warning("camera %s stopped delivering: %s", self._device, exc)
        else:
            logger.warning("camera %s: end of stream", self._device)
