"""Synthetic media: a moving test pattern with a readable stamp, and a sine tone.

The stamp (``media/stamp.py``) is a row of black/white blocks atop each picture carrying the
frame counter and the capture time (ms, modulo 2**32). It survives H.264 at the
bitrates used here, so a receiver can read it back from the decoded picture: that
is how the lab proves frames are fresh and how latency is measured.
"""

from __future__ import annotations

import asyncio
import fractions
import math
import time

import av
import numpy as np
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from alo_edge.media.base import VIDEO_CLOCK_RATE, VIDEO_TIME_BASE
from alo_edge.media.stamp import STAMP_HEIGHT, draw_stamp
from alo_edge.media.tracks import TrackSlot

AUDIO_RATE = 48_000
AUDIO_PTIME = 0.020


class TestPatternTrack(MediaStreamTrack):
    """A paced video track: colour bars, a moving bar and the stamp, at ``fps``."""

    kind = "video"

    def __init__(self, width: int, height: int, fps: int) -> None:
        super().__init__()
        self._width = width - width % 2
        self._height = height - height % 2
        self._fps = fps
        self._counter = 0
        self._start: float | None = None
        self.last_frame_at: float | None = None
        self._background = self._bars()

    def _bars(self) -> np.ndarray:
        # Eight vertical bars in luma, neutral chroma: cheap to draw, easy to see.
        frame = np.full((self._height * 3 // 2, self._width), 128, dtype=np.uint8)
        levels = np.linspace(40, 220, 8).astype(np.uint8)
        bar = max(self._width // 8, 1)
        for i, level in enumerate(levels):
            frame[: self._height, i * bar : (i + 1) * bar] = level
        return frame

    async def recv(self) -> av.VideoFrame:
        if self.readyState != "live":
            raise MediaStreamError
        if self._start is None:
            self._start = time.monotonic()
        due = self._start + self._counter / self._fps
        wait = due - time.monotonic()
        if wait > 0:
            await asyncio.sleep(wait)
        self.last_frame_at = time.monotonic()
        picture = self._background.copy()
        luma = picture[: self._height]
        x = (self._counter * 4) % self._width
        luma[STAMP_HEIGHT:, x : x + 8] = 255
        draw_stamp(luma, self._counter, int(time.time() * 1000))
        frame = av.VideoFrame.from_ndarray(picture, format="yuv420p")
        frame.pts = int(self._counter * VIDEO_CLOCK_RATE / self._fps)
        frame.time_base = VIDEO_TIME_BASE
        self._counter += 1
        return frame

    @property
    def frames_sent(self) -> int:
        """Frames returned by :meth:`recv` so far."""
        return self._counter


class ToneTrack(MediaStreamTrack):
    """A paced 20 ms mono s16 sine tone at 48 kHz; silent while ``muted``."""

    kind = "audio"

    def __init__(self, frequency: float = 1000.0, level: float = 0.25) -> None:
        super().__init__()
        self.muted = False
        self._samples = int(AUDIO_RATE * AUDIO_PTIME)
        self._phase_step = 2 * math.pi * frequency / AUDIO_RATE
        self._level = level
        self._sent = 0
        self._start: float | None = None
        self.last_frame_at: float | None = None

    async def recv(self) -> av.AudioFrame:
        if self.readyState != "live":
            raise MediaStreamError
        if self._start is None:
            self._start = time.monotonic()
        wait = self._start + self._sent / AUDIO_RATE - time.monotonic()
        if wait > 0:
            await asyncio.sleep(wait)
        self.last_frame_at = time.monotonic()
        if self.muted:
            samples = np.zeros(self._samples, dtype=np.int16)
        else:
            phase = (np.arange(self._samples) + self._sent) * self._phase_step
            samples = (np.sin(phase) * self._level * 32767).astype(np.int16)
        frame = av.AudioFrame.from_ndarray(samples.reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate = AUDIO_RATE
        frame.pts = self._sent
        frame.time_base = fractions.Fraction(1, AUDIO_RATE)
        self._sent += self._samples
        return frame

    @property
    def frames_sent(self) -> int:
        """Frames returned by :meth:`recv` so far."""
        return self._sent // self._samples


class _Tally:
    """Frames sent by every track a source handed out (each connection gets a new track)."""

    def __init__(self) -> None:
        self.before = 0  # sent by the tracks of connections that are gone
        self.current: TestPatternTrack | ToneTrack | None = None

    def replace(self, track: TestPatternTrack | ToneTrack) -> None:
        if self.current is not None:
            self.before += self.current.frames_sent
        self.current = track

    @property
    def total(self) -> int:
        return self.before + (self.current.frames_sent if self.current is not None else 0)


class SyntheticVideoSource:
    """The ``synthetic`` video source: a :class:`TestPatternTrack` per connection.

    aiortc ends a track when its peer connection closes, so each reconnect gets a new one.
    """

    kind = "video"
    device_id = "synthetic-video"

    def __init__(self, width: int, height: int, fps: int) -> None:
        self._tally = _Tally()
        self._tracks = TrackSlot(lambda: self._new_track(width, height, fps))

    def _new_track(self, width: int, height: int, fps: int) -> TestPatternTrack:
        track = TestPatternTrack(width, height, fps)
        self._tally.replace(track)
        return track

    @property
    def frames_sent(self) -> int:
        """Frames handed to senders across every connection (the status endpoint's count)."""
        return self._tally.total

    @property
    def track(self) -> MediaStreamTrack:
        return self._tracks.get()

    @property
    def last_frame_at(self) -> float | None:
        return self._tracks.current.last_frame_at

    async def start(self) -> None:
        """Nothing to open: the pattern is drawn as it is sent."""

    def stop(self) -> None:
        self._tracks.stop()


class SyntheticAudioSource:
    """The ``synthetic`` audio source: a 1 kHz :class:`ToneTrack`."""

    kind = "audio"
    device_id = "synthetic-audio"

    def __init__(self, frequency: float = 1000.0) -> None:
        self._frequency = frequency
        self._muted = False
        self._tally = _Tally()
        self._tracks = TrackSlot(self._new_track)

    @property
    def frames_sent(self) -> int:
        """Frames handed to senders across every connection (the status endpoint's count)."""
        return self._tally.total

    def _new_track(self) -> ToneTrack:
        track = ToneTrack(self._frequency)
        track.muted = self._muted
        self._tally.replace(track)
        return track

    @property
    def track(self) -> MediaStreamTrack:
        return self._tracks.get()

    @property
    def last_frame_at(self) -> float | None:
        return self._tracks.current.last_frame_at

    async def start(self) -> None:
        """Nothing to open: the tone is computed as it is sent."""

    def set_muted(self, muted: bool) -> None:
        """Send silence instead of the tone (the track stays live)."""
        self._muted = muted
        self._tracks.current.muted = muted

    def stop(self) -> None:
        self._tracks.stop()
