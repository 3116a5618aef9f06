"""Half duplex: the microphone ducks while the far end speaks, and for a hang time after.

For housings where echo cancellation cannot cope (a speaker that rattles the case, a
microphone in the speaker's port), intercoms fall back to half duplex: while the
speaker plays the operator's voice the microphone sends silence, and it comes back
``hang_time`` seconds after the operator stopped, so the echo's tail (the speaker's
buffer, the room's reverberation) is not heard either.

Pure logic: :class:`Ducker` is driven by the level of what the speaker plays, once a
10 ms frame, with the time passed in, so its tests need no clock. The gain moves to
its new value over ``fade`` seconds (no click), and is applied sample by sample by
:func:`ramp`.
"""

from __future__ import annotations

import numpy as np

#: The speaker counts as playing a voice above this level (dBFS, RMS of one frame):
#: Opus's comfort noise and a silent line stay below it.
FAR_ACTIVE_DBFS = -50.0
#: Seconds the microphone stays ducked after the far end fell silent.
DEFAULT_HANG_TIME = 0.5
#: Seconds a change of gain takes.
DEFAULT_FADE = 0.02


class Ducker:
    """The microphone's gain (1.0 open, 0.0 ducked) from the far end's activity.

    ``update(now, far_dbfs)`` once per frame: far-end activity ducks at once (the
    speaker's buffer and the echo path delay the echo, so ducking on the reference
    is early enough); the microphone reopens ``hang_time`` after the last active frame.
    """

    def __init__(
        self,
        hang_time: float = DEFAULT_HANG_TIME,
        *,
        threshold_dbfs: float = FAR_ACTIVE_DBFS,
        fade: float = DEFAULT_FADE,
    ) -> None:
        self._hang_time = hang_time
        self._threshold = threshold_dbfs
        self._fade = fade
        self._last_active: float | None = None
        self._last_update: float | None = None
        self.gain = 1.0

    @property
    def ducked(self) -> bool:
        """True while the microphone is (being) ducked."""
        return self.gain < 1.0

    def update(self, now: float, far_dbfs: float) -> float:
        """Fold in one frame of the far end at ``now`` (seconds); returns the new gain."""
        if far_dbfs > self._threshold:
            self._last_active = now
        closed = self._last_active is not None and now - self._last_active < self._hang_time
        target = 0.0 if closed else 1.0
        # The first frame has nothing to fade from: it takes the target at once.
        elapsed = self._fade if self._last_update is None else max(now - self._last_update, 0.0)
        self._last_update = now
        step = 1.0 if self._fade <= 0 else elapsed / self._fade
        if target < self.gain:
            self.gain = max(target, self.gain - step)
        elif target > self.gain:
            self.gain = min(target, self.gain + step)
        return self.gain


def ramp(samples: np.ndarray, start: float, end: float) -> np.ndarray:
    """``samples`` (int16) with a gain going linearly from ``start`` to ``end``."""
    if start == end == 1.0:
        return samples
    if start == end == 0.0:
        return np.zeros_like(samples)
    gains = np.linspace(start, end, len(samples), endpoint=False)
    return np.clip(np.round(samples * gains), -32768, 32767).astype(samples.dtype)
