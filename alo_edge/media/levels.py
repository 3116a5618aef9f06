"""Audio levels and the echo estimate, as /status and /metrics report them.

Pure numpy on 10 ms frames. A level is RMS in dBFS (0 dBFS: a full-scale square
wave), smoothed with a fast attack and a slow release, as a level meter shows it.

The echo figures are measured around the audio processing, not read from it (the
binding exposes no AEC3 statistics): while the far end speaks and the microphone's
own voice detector hears nobody at the door, the microphone's level below the
speaker's is the echo return loss (how much of the speaker reaches the microphone:
the housing), and the output's level below the microphone's is the echo return loss
enhancement (how much of that echo the processing removed).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

#: What a level of digital silence reads.
FLOOR_DBFS = -120.0
FULL_SCALE = 32768.0
#: Seconds a level meter takes to fall by 1/e after a loud frame.
RELEASE_SECONDS = 0.3
#: Seconds of far-end-only frames the echo estimate averages over.
ECHO_WINDOW_SECONDS = 2.0
FRAME_SECONDS = 0.01


def mean_square(samples: np.ndarray) -> float:
    """Mean square of int16 ``samples`` relative to full scale (1.0: 0 dBFS)."""
    if len(samples) == 0:
        return 0.0
    values = samples.astype(np.float64) / FULL_SCALE
    return float(np.dot(values, values)) / len(values)


def to_dbfs(power: float) -> float:
    """A mean square as dBFS (FLOOR_DBFS for silence)."""
    return 10 * math.log10(power) if power > 1e-12 else FLOOR_DBFS


class LevelMeter:
    """A smoothed level: follows a louder frame at once, decays over RELEASE_SECONDS."""

    def __init__(self, release: float = RELEASE_SECONDS, frame: float = FRAME_SECONDS) -> None:
        self._decay = math.exp(-frame / release)
        self.power = 0.0

    def update(self, power: float) -> None:
        """Fold in one frame's mean square."""
        self.power = max(power, self.power * self._decay)

    @property
    def dbfs(self) -> float:
        """The level now, in dBFS."""
        return to_dbfs(self.power)


class EchoEstimate:
    """Echo return loss and its enhancement, from frames where only the far end speaks."""

    def __init__(self, window: float = ECHO_WINDOW_SECONDS, frame: float = FRAME_SECONDS) -> None:
        self._keep = math.exp(-frame / window)
        self._speaker = 0.0
        self._microphone = 0.0
        self._output = 0.0
        self._frames = 0

    def update(self, speaker: float, microphone: float, output: float) -> None:
        """Fold in one far-end-only frame (mean squares of speaker, microphone, output)."""
        k = self._keep
        self._speaker = self._speaker * k + speaker
        self._microphone = self._microphone * k + microphone
        self._output = self._output * k + output
        self._frames += 1

    @property
    def return_loss_db(self) -> float | None:
        """How far below the speaker's level the microphone hears it (None: no data yet)."""
        if self._frames == 0 or self._speaker <= 0:
            return None
        return _ratio_db(self._speaker, self._microphone)

    @property
    def enhancement_db(self) -> float | None:
        """How far below the microphone's level the output is (None: no data yet)."""
        if self._frames == 0 or self._microphone <= 0:
            return None
        return _ratio_db(self._microphone, self._output)


def _ratio_db(numerator: float, denominator: float) -> float:
    # One LSB squared over a whole window bounds the figure: a digital zero is not infinity.
    floor = 1 / (FULL_SCALE * FULL_SCALE)
    return round(10 * math.log10(max(numerator, floor) / max(denominator, floor)), 1)


@dataclass(frozen=True)
class AudioLevels:
    """One reading of the microphone pipeline (levels in dBFS, figures in dB)."""

    microphone_dbfs: float
    speaker_dbfs: float
    output_dbfs: float
    #: The speaker's level minus the microphone's while only the far end speaks.
    echo_return_loss_db: float | None
    #: The microphone's level minus the output's while only the far end speaks.
    echo_return_loss_enhancement_db: float | None
    #: The audio processing's speech probability for the last frame (0..1).
    voice_probability: float
    voice_active: bool
    far_end_active: bool
    ducked: bool
    #: The delay hint handed to the echo canceller (ALSA's playback + capture delay).
    stream_delay_ms: int
