"""The stand-in's H.264 encoder: picamera2's software-encoder face over real libx264.

picamera2 names its encoder ``H264Encoder`` on every Pi: the VideoCore hardware
encoder (a V4L2 device) on a Pi Zero 2/3/4, ``LibavH264Encoder`` (libx264 through
PyAV) on a Pi 5. A V4L2 control cannot be faked without a device, so the stand-in
shows the Pi 5 face: ``LibavH264Encoder``, whose live codec context is
``_stream.codec_context`` and whose bitrate alo-edge changes by writing that
context's ``bit_rate``.

Behind that face it rate-controls like the hardware encoder does: every picture fits
a VBV buffer of half a second at the bitrate, so the stream follows the bitrate
closely and no picture bursts far above it. A new ``bit_rate`` steers x264's rate
control at once (FFmpeg reconfigures x264 before the next picture), and at the next
IDR the context is reopened with the new bitrate and a buffer sized for it. The
hardware encoder applies its control from the next frame: the stand-in is the slower
of the two.
"""

from __future__ import annotations

import fractions
import threading
from typing import Any

import av
import numpy as np

#: The VBV buffer, in seconds at the bitrate: the largest burst a picture may make.
VBV_SECONDS = 0.5
DEFAULT_BITRATE = 2_000_000


class _Stream:
    """What picamera2's ``LibavH264Encoder._stream`` is to alo-edge: a codec context."""

    def __init__(self, codec_context: Any) -> None:
        self.codec_context = codec_context


class LibavH264Encoder:
    def __init__(
        self,
        bitrate: int | None = None,
        repeat: bool = True,
        iperiod: int | None = 30,
        framerate: float = 30,
        qp: int | None = None,
        profile: str | None = None,
    ) -> None:
        self.bitrate = bitrate
        self.repeat = repeat
        self.iperiod = iperiod
        self.framerate = framerate
        self._stream: _Stream | None = None
        #: How often force_key_frame() was called.
        self.forced = 0
        #: The bitrate of each codec context opened so far (the first, then one per change).
        self.opened_bitrates: list[int] = []
        self._lock = threading.Lock()
        self._pending = False
        self._size = (0, 0)
        self._fps = 30
        self._since_open = 0

    def force_key_frame(self) -> None:
        with self._lock:
            self.forced += 1
            self._pending = True

    # --- what the stand-in camera's thread calls -------------------------------------

    def _start(self, width: int, height: int, fps: float) -> None:
        self._size, self._fps = (width, height), max(1, round(fps))
        self._open(self.bitrate or DEFAULT_BITRATE)

    def _encode(self, picture: np.ndarray, index: int) -> list[av.Packet]:
        """Encode one yuv420p picture; an IDR when due or forced."""
        assert self._stream is not None
        with self._lock:
            forced, self._pending = self._pending, False
        iperiod = self.iperiod or 60
        idr_due = forced or self._since_open % iperiod == 0
        wanted = int(self._stream.codec_context.bit_rate) or DEFAULT_BITRATE
        if idr_due and wanted != self.opened_bitrates[-1] and self._since_open:
            self._open(wanted)  # its first picture is an IDR anyway
        frame = av.VideoFrame.from_ndarray(picture, format="yuv420p")
        frame.pts = index
        if forced:
            frame.pict_type = av.video.frame.PictureType.I
        self._since_open += 1
        return list(self._stream.codec_context.encode(frame))

    def _stop(self) -> None:
        self._stream = None

    def _open(self, bitrate: int) -> None:
        width, height = self._size
        iperiod = self.iperiod or 60
        codec = av.CodecContext.create("libx264", "w")
        codec.width, codec.height, codec.pix_fmt = width, height, "yuv420p"
        codec.time_base = fractions.Fraction(1, self._fps)
        codec.bit_rate = bitrate
        codec.options = {
            "preset": "ultrafast",
            "tune": "zerolatency",
            "maxrate": str(bitrate),
            "bufsize": str(int(bitrate * VBV_SECONDS)),
            "x264-params": f"keyint={iperiod}:min-keyint={iperiod}:scenecut=0:"
            f"repeat-headers={int(self.repeat)}:forced-idr=1",
        }
        self._stream = _Stream(codec)
        self._since_open = 0
        self.opened_bitrates.append(bitrate)


#: As on a Pi 5: picamera2's H264Encoder is the software encoder.
H264Encoder = LibavH264Encoder
