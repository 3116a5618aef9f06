"""A simulated room for the microphone pipeline: speech, an echo path, noise.

What a door intercom's speaker plays reaches its microphone a few tens of
milliseconds later, filtered by the housing and the room: that is the echo the
audio processing must remove. This module makes that room out of numpy and
Debian's ``espeak-ng``, for ``scripts/bench aec`` and the tests:

- :func:`speech`: a sentence spoken by espeak-ng, at 48 kHz mono float;
- :func:`room_impulse`: a direct path plus an exponentially decaying tail (RT60);
- :class:`EchoPath`: that impulse response applied block by block (overlap-add),
  so a live room can feed what a speaker played, 10 ms at a time;
- :func:`level_db` and friends: the figures the bench reports.

Nothing here is used by the device; it is a development tool.
"""

from __future__ import annotations

import io
import shutil
import subprocess
import wave

import numpy as np

RATE = 48_000
FRAME = RATE // 100  # 10 ms
ESPEAK_TIMEOUT = 20.0
#: The far end (the operator) and the near end (the visitor) say different things.
FAR_SENTENCES = (
    "Hello, this is the front desk. Please hold the door open when you hear the buzzer.",
    "We will send somebody down to collect the parcel in about five minutes.",
    "Could you spell your name for me, and the company you are visiting today?",
)
NEAR_SENTENCES = (
    "Hi, I have a delivery for apartment twelve, it needs a signature.",
    "My name is Maria, I am here for the two o'clock meeting on the third floor.",
    "The gate did not open, can you try again please?",
)


class SpeechUnavailable(RuntimeError):
    """espeak-ng is not installed (``scripts/setup`` installs it)."""


def speech(text: str, voice: str = "en", *, rate: int = RATE) -> np.ndarray:
    """``text`` spoken by espeak-ng with ``voice``, as float samples in [-1, 1] at ``rate``."""
    binary = shutil.which("espeak-ng")
    if binary is None:
        raise SpeechUnavailable("espeak-ng is not installed: apt-get install espeak-ng")
    wav = subprocess.run(
        [binary, "-v", voice, "-s", "150", "--stdout", text],
        capture_output=True,
        check=True,
        timeout=ESPEAK_TIMEOUT,
    ).stdout
    with wave.open(io.BytesIO(wav)) as reader:
        source_rate = reader.getframerate()
        samples = np.frombuffer(reader.readframes(reader.getnframes()), dtype="<i2")
    values = samples.astype(np.float64) / 32768.0
    # Linear interpolation is enough for speech that only needs to sound like speech.
    times = np.arange(int(len(values) * rate / source_rate)) / rate
    return np.interp(times, np.arange(len(values)) / source_rate, values)


def talk(sentences: tuple[str, ...], voice: str, *, pause: float = 0.4) -> np.ndarray:
    """Several sentences with ``pause`` seconds between them, normalised to peak 0.9."""
    parts: list[np.ndarray] = []
    for text in sentences:
        parts += [speech(text, voice), np.zeros(int(pause * RATE))]
    joined = np.concatenate(parts)
    return joined * (0.9 / max(float(np.abs(joined).max()), 1e-9))


def room_impulse(
    delay_ms: float, *, rt60: float = 0.3, direct: float = 0.5, seed: int = 3
) -> np.ndarray:
    """An echo path: ``delay_ms`` of silence, a direct path, a tail decaying 60 dB in ``rt60``."""
    rng = np.random.default_rng(seed)
    delay = int(delay_ms * RATE / 1000)
    tail_length = int(rt60 * RATE)
    t = np.arange(tail_length) / RATE
    tail = rng.standard_normal(tail_length) * 10 ** (-3 * t / rt60)
    tail *= np.sqrt(1 - direct**2) / max(float(np.sqrt(np.sum(tail**2))), 1e-12)
    impulse = np.zeros(delay + tail_length)
    impulse[delay:] = tail
    impulse[delay] += direct
    return impulse


class EchoPath:
    """Applies an impulse response to a stream, block by block (FFT overlap-add)."""

    def __init__(self, impulse: np.ndarray, block: int = FRAME) -> None:
        self._block = block
        size = 1
        while size < len(impulse) + block - 1:
            size *= 2
        self._size = size
        self._spectrum = np.fft.rfft(impulse, size)
        self._tail = np.zeros(size - block)

    def push(self, block: np.ndarray) -> np.ndarray:
        """The echo during the next ``block`` samples, given what the speaker played then."""
        out = np.fft.irfft(np.fft.rfft(block, self._size) * self._spectrum, self._size)
        out[: len(self._tail)] += self._tail
        self._tail = out[self._block :].copy()
        return out[: self._block]


def apply(impulse: np.ndarray, signal: np.ndarray) -> np.ndarray:
    """The whole of ``signal`` through ``impulse`` (same length as ``signal``), by FFT."""
    size = 1
    while size < len(signal) + len(impulse) - 1:
        size *= 2
    spectrum = np.fft.rfft(signal, size) * np.fft.rfft(impulse, size)
    out: np.ndarray = np.fft.irfft(spectrum, size)[: len(signal)]
    return out


def power(samples: np.ndarray) -> float:
    """Mean square of ``samples`` (float)."""
    values = samples.astype(np.float64)
    return float(np.mean(values * values)) if len(values) else 0.0


def level_db(samples: np.ndarray, full_scale: float = 1.0) -> float:
    """RMS level in dB relative to ``full_scale`` (-120 for silence)."""
    p = power(samples) / (full_scale * full_scale)
    return 10 * float(np.log10(p)) if p > 1e-12 else -120.0


def frame_powers(samples: np.ndarray) -> np.ndarray:
    """The mean square of each whole 10 ms frame."""
    count = len(samples) // FRAME
    frames = samples[: count * FRAME].astype(np.float64).reshape(count, FRAME)
    powers: np.ndarray = np.mean(frames * frames, axis=1)
    return powers


def to_int16(samples: np.ndarray) -> np.ndarray:
    """Float [-1, 1] -> int16, clipped."""
    return np.clip(np.round(samples * 32767), -32768, 32767).astype(np.int16)
