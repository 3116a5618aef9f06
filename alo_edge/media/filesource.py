"""The ``file`` video source: an Annex-B ``.h264`` file replayed through the passthrough path.

This is how the camera's passthrough path is exercised and benchmarked where there
is no camera: the same :class:`~alo_edge.media.passthrough.PassthroughTrack`, the
same keyframe handling. The file is read once into memory, split into access units
by FFmpeg's H.264 parser, and replayed at its own frame rate (from the SPS timing
info; ``fallback_fps`` when it has none), looping. A keyframe request jumps to the
next IDR picture, as a camera encoder forcing one would produce.

A recording cannot be re-encoded: this source does not adapt to the network. Its
rate control only observes (loss and round-trip time still show in ``/status``);
on a weak link, record the file at a bitrate the link takes.
"""

from __future__ import annotations

import asyncio
import fractions
import time
from collections.abc import Iterable
from pathlib import Path

import av
import numpy as np

from alo_edge.errors import ConfigError
from alo_edge.media.adaptive import AdaptiveBitrate
from alo_edge.media.base import VIDEO_CLOCK_RATE
from alo_edge.media.passthrough import AccessUnit, KeyframeRequests, PassthroughTrack
from alo_edge.media.tracks import TrackSlot

#: A consumer this far behind the file's clock (nobody pulled between connections)
#: restarts the clock instead of catching up with a burst.
MAX_LAG_SECONDS = 1.0


def write_h264_file(
    path: Path,
    pictures: Iterable[np.ndarray],
    *,
    width: int,
    height: int,
    fps: int,
    gop: int,
    bitrate: int,
    preset: str,
) -> Path:
    """Encode yuv420p ``pictures`` with libx264 into the Annex-B file this source replays.

    An IDR every ``gop`` pictures, SPS/PPS repeated ahead of each (as picamera2's
    ``repeat=True`` does), no scene-cut IDRs: a camera-like stream with a known GOP.
    Benchmarks and tests make their clips with it.
    """
    with av.open(str(path), "w", format="h264") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.bit_rate = bitrate
        stream.options = {
            "preset": preset,
            "tune": "zerolatency",
            "x264-params": f"keyint={gop}:min-keyint={gop}:scenecut=0:repeat-headers=1",
        }
        for index, picture in enumerate(pictures):
            frame = av.VideoFrame.from_ndarray(picture, format="yuv420p")
            frame.pts, frame.time_base = index, fractions.Fraction(1, fps)
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def read_h264_file(
    path: Path, fallback_fps: int
) -> tuple[list[tuple[bytes, bool]], fractions.Fraction, int, int]:
    """``(units, fps, width, height)`` of an Annex-B H.264 file; units are (data, is IDR).

    Raises ConfigError (key ``video.file``) when the file is missing or not H.264.
    """
    try:
        with av.open(str(path), format="h264") as container:
            stream = container.streams.video[0]
            units = [(bytes(p), bool(p.is_keyframe)) for p in container.demux(stream) if p.size]
            rate = stream.codec_context.framerate or stream.guessed_rate
            width, height = stream.codec_context.width, stream.codec_context.height
    except (OSError, av.error.FFmpegError, IndexError) as exc:
        raise ConfigError(
            f"cannot read {path} as an Annex-B H.264 file: {exc}", key="video.file"
        ) from None
    keyframes = [i for i, (_, key) in enumerate(units) if key]
    if not keyframes:
        raise ConfigError(f"{path} holds no IDR picture to start decoding at", key="video.file")
    # Start at the first IDR: pictures before it cannot be decoded by anyone.
    units = units[keyframes[0] :]
    fps = fractions.Fraction(rate) if rate else fractions.Fraction(fallback_fps)
    return units, fps, int(width), int(height)


class FileFeed:
    """Paces access units at the file's rate, looping; jumps to an IDR on request."""

    def __init__(self, units: list[tuple[bytes, bool]], fps: fractions.Fraction) -> None:
        self._units = units
        self._fps = fps
        self._period = 1 / float(fps)
        self._index = 0
        self._slot = 0
        self._start: float | None = None
        self._jump = False
        self.last_frame_at: float | None = None
        #: Pictures handed out so far (to every connection's track).
        self.units_sent = 0
        self.keyframes = KeyframeRequests(self._jump_to_keyframe)

    def _jump_to_keyframe(self) -> None:
        self._jump = True

    def request_keyframe(self) -> None:
        self.keyframes.request()

    def rewind(self) -> None:
        """Start over at the first picture on the next call (it is an IDR)."""
        self._index = 0
        self._start = None

    async def next_access_unit(self) -> AccessUnit:
        now = time.monotonic()
        if self._start is None or now - (self._start + self._slot * self._period) > MAX_LAG_SECONDS:
            self._start = now - self._slot * self._period
        wait = self._start + self._slot * self._period - now
        if wait > 0:
            await asyncio.sleep(wait)
        if self._jump:
            self._jump = False
            self._index = self._next_keyframe(self._index)
        data, keyframe = self._units[self._index]
        self._index = (self._index + 1) % len(self._units)
        pts = int(self._slot * VIDEO_CLOCK_RATE / self._fps)
        self._slot += 1
        self.units_sent += 1
        self.last_frame_at = time.monotonic()
        return AccessUnit(data, keyframe, pts)

    def _next_keyframe(self, index: int) -> int:
        for offset in range(len(self._units)):
            candidate = (index + offset) % len(self._units)
            if self._units[candidate][1]:
                return candidate
        return 0  # unreachable: read_h264_file guarantees an IDR at index 0


class FileSource:
    """The ``file`` video source (``video.file``): passthrough replay of a ``.h264`` file."""

    kind = "video"

    def __init__(self, path: str | Path, fallback_fps: int = 30, bitrate: int = 2_000_000) -> None:
        self.path = Path(path)
        units, rate, self.width, self.height = read_h264_file(self.path, fallback_fps)
        self.fps = float(rate)
        self.frames = len(units)
        self._feed = FileFeed(units, rate)
        #: Observes only: a recording cannot be re-encoded (``adapts`` is false).
        self.rate_control = AdaptiveBitrate(bitrate, bitrate, apply=None)
        self._tracks = TrackSlot(lambda: PassthroughTrack(self._feed, self.rate_control))

    @property
    def device_id(self) -> str:
        return f"file:{self.path.name}"

    @property
    def track(self) -> PassthroughTrack:
        return self._tracks.get()

    @property
    def last_frame_at(self) -> float | None:
        return self._feed.last_frame_at

    @property
    def frames_sent(self) -> int:
        return self._feed.units_sent

    async def start(self) -> None:
        """Nothing to open: the file was read when the source was built."""

    @property
    def keyframes(self) -> KeyframeRequests:
        """Keyframe requests received and keyframes forced (for tests and stats)."""
        return self._feed.keyframes

    def request_keyframe(self) -> None:
        """Jump to the next IDR picture (rate-limited)."""
        self._feed.request_keyframe()

    async def restart(self) -> None:
        """Replay from the start of the file."""
        self._feed.rewind()

    def stop(self) -> None:
        self._feed.keyframes.close()
        self._tracks.stop()
