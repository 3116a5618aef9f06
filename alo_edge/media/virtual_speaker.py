"""A speaker without a sound card: it plays talk-back into a level meter.

The demo has no ALSA device to play the operator's voice on, so talk-back would not be
offered at all and the live view's Hold-to-talk would do nothing. :class:`VirtualSpeaker`
is an :class:`~alo_edge.media.base.AudioSink` that takes the same frames a loudspeaker
would and keeps only how loud they are, so a person (or a test) sees the voice arrive.
:class:`LevelLines` turns that level into the few lines a terminal can show.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable

import av
import numpy as np

#: The level is the loudest frame of this last stretch of audio (a VU meter's window).
LEVEL_WINDOW_SECONDS = 0.2
#: Frames this old no longer count: a talk-back track that stopped reads as silence.
STALE_SECONDS = 0.5


class VirtualSpeaker:
    """An AudioSink that measures what it is given: :attr:`level` is the recent peak, 0-1."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._peaks: deque[tuple[float, float]] = deque()
        self._open = False
        #: Frames written while open, since start.
        self.frames_played = 0

    @property
    def device_id(self) -> str:
        return "virtual-speaker"

    async def start(self) -> None:
        """Nothing to open: the speaker takes frames from now on."""
        self._open = True

    def write(self, frame: av.AudioFrame) -> None:
        """Take ``frame`` (any sample format aiortc decodes to) and note its peak."""
        if not self._open:
            return
        self.frames_played += 1
        self._peaks.append((self._clock(), peak_level(frame)))
        self._forget_old(self._clock())

    def stop(self) -> None:
        """Later writes are ignored."""
        self._open = False
        self._peaks.clear()

    @property
    def level(self) -> float:
        """The loudest frame of the last LEVEL_WINDOW_SECONDS, 0-1 (0 when nothing plays)."""
        now = self._clock()
        self._forget_old(now)
        recent = [peak for at, peak in self._peaks if at > now - LEVEL_WINDOW_SECONDS]
        if not recent or self._peaks[-1][0] < now - STALE_SECONDS:
            return 0.0
        return max(recent)

    def _forget_old(self, now: float) -> None:
        while self._peaks and self._peaks[0][0] <= now - max(LEVEL_WINDOW_SECONDS, STALE_SECONDS):
            self._peaks.popleft()


def peak_level(frame: av.AudioFrame) -> float:
    """The frame's peak as a fraction of full scale (integer or float samples)."""
    samples = frame.to_ndarray()
    if samples.size == 0:
        return 0.0
    peak = float(np.abs(samples.astype(np.float64)).max())
    if samples.dtype.kind in "iu":
        # aiortc's Opus decoder gives s16; full scale is the type's range.
        return peak / float(2 ** (8 * samples.dtype.itemsize - 1))
    return min(peak, 1.0)


class LevelLines:
    """The speaker's level as lines for a terminal: when sound starts, about once a second
    while it lasts, and when it has been silent for a second. Pure: the caller passes the
    level and the time, so it is tested without sleeping.
    """

    #: Above this (about -34 dBFS) the speaker is playing something.
    SOUND = 0.02
    REPEAT_SECONDS = 1.0
    SILENT_AFTER_SECONDS = 1.0
    BAR = 20

    def __init__(self) -> None:
        self._receiving = False
        self._sounding = False
        self._last_line_at = float("-inf")
        self._last_sound_at = float("-inf")

    def update(self, level: float, now: float, *, receiving: bool = True) -> str | None:
        """The line to print for ``level`` at ``now`` (seconds), if any; ``receiving`` is
        whether talk-back frames arrive at all (the first ones get a line of their own)."""
        if receiving and not self._receiving:
            self._receiving = True
            return "speaker: receiving talk-back (silent until someone holds Hold to talk)"
        if level >= self.SOUND:
            self._last_sound_at = now
            if not self._sounding or now - self._last_line_at >= self.REPEAT_SECONDS:
                starting = not self._sounding
                self._sounding, self._last_line_at = True, now
                return self.meter(level, "talk-back playing" if starting else "talk-back")
            return None
        if self._sounding and now - self._last_sound_at >= self.SILENT_AFTER_SECONDS:
            self._sounding, self._last_line_at = False, now
            return "speaker: silent"
        return None

    @classmethod
    def meter(cls, level: float, what: str) -> str:
        """``speaker: talk-back level 0.42 |########            |``."""
        filled = round(min(level, 1.0) * cls.BAR)
        return f"speaker: {what}, level {level:.2f} |{'#' * filled}{' ' * (cls.BAR - filled)}|"
