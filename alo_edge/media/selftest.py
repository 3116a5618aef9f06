"""The speaker/microphone self-test: play a sweep, record it, say what works.

Commercial intercoms check their own audio on a schedule: a door whose speaker died
still looks connected. The test records half a second of the room, plays a one-second
logarithmic sweep on the speaker (while the outgoing audio is held silent), and keeps
recording through the echo's tail. It records through the device's own
:class:`~alo_edge.media.processing.MicPipeline`: the raw microphone next to the
reference (what really reached ALSA), frame-aligned, so the analysis compares what
was played with what was heard, whoever else wrote to the speaker.

:func:`analyse` is pure; :func:`run_selftest` drives a live sink and pipeline.
"""

from __future__ import annotations

import asyncio
import dataclasses
import fractions
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import av
import numpy as np

from alo_edge.media.base import AudioSink
from alo_edge.media.levels import FLOOR_DBFS, mean_square, to_dbfs
from alo_edge.media.processing import MicPipeline

BACKGROUND_SECONDS = 0.5
SWEEP_SECONDS = 1.0
TAIL_SECONDS = 0.7
SWEEP_LOW_HZ = 200.0
SWEEP_HIGH_HZ = 6000.0
SWEEP_PEAK = 0.35  # about -12 dBFS RMS: clearly audible, far from clipping
CHUNK_SECONDS = 0.02
#: The sweep counts as heard when the microphone is this much louder while it plays.
HEARD_DB = 10.0
#: A microphone whose samples never move more than this (LSB) records digital silence.
SILENT_SPAN = 2
#: Less than this in the reference while the sweep played: nothing reached the speaker.
PLAYED_DBFS = -40.0
MAX_ECHO_DELAY_SECONDS = 0.5
#: Extra time the recording may take to fill (the capture's own buffering).
RECORD_SLACK_SECONDS = 2.0
SLACK_STEP_SECONDS = 0.1

OK, SILENT, UNAVAILABLE, UNTESTED = "ok", "silent", "unavailable", "untested"


@dataclass(frozen=True)
class SelfTestResult:
    """What the self-test found. ``speaker`` and ``microphone``: ok, silent,
    unavailable (cannot be opened, or delivers nothing) or untested (the speaker,
    when the microphone cannot hear it)."""

    speaker: str
    microphone: str
    message: str
    #: The echo's level relative to what the speaker played (dB; the housing's coupling).
    coupling_db: float | None = None
    #: From handing audio to ALSA to hearing it at the microphone.
    echo_delay_ms: float | None = None
    noise_dbfs: float | None = None
    at: float = 0.0

    @property
    def passed(self) -> bool:
        """Both the speaker and the microphone work."""
        return self.speaker == OK and self.microphone == OK

    def to_dict(self) -> dict[str, Any]:
        """The result as /status, the event and ``--json`` carry it."""
        return {
            "passed": self.passed,
            "speaker": self.speaker,
            "microphone": self.microphone,
            "message": self.message,
            "couplingDb": self.coupling_db,
            "echoDelayMs": self.echo_delay_ms,
            "noiseDbfs": self.noise_dbfs,
            "at": datetime.fromtimestamp(self.at, UTC).isoformat(timespec="seconds")
            if self.at
            else None,
        }


def sweep(rate: int, channels: int = 1, seconds: float = SWEEP_SECONDS) -> np.ndarray:
    """A logarithmic sine sweep, int16 interleaved, with 10 ms fades (no clicks)."""
    t = np.arange(int(seconds * rate)) / rate
    ratio = math.log(SWEEP_HIGH_HZ / SWEEP_LOW_HZ)
    phase = 2 * math.pi * SWEEP_LOW_HZ * seconds / ratio * (np.exp(t * ratio / seconds) - 1)
    signal = np.sin(phase) * SWEEP_PEAK
    fade = int(0.01 * rate)
    signal[:fade] *= np.linspace(0, 1, fade)
    signal[-fade:] *= np.linspace(1, 0, fade)
    mono = np.round(signal * 32767).astype(np.int16)
    return np.repeat(mono, channels)


def analyse(
    microphone: np.ndarray,
    reference: np.ndarray,
    *,
    rate: int,
    channels: int = 1,
    background_seconds: float = BACKGROUND_SECONDS,
    at: float = 0.0,
) -> SelfTestResult:
    """Judge a recording: raw microphone and reference, frame-aligned, int16 interleaved."""
    mic = _mono(microphone, channels)
    ref = _mono(reference, channels)
    if len(mic) == 0:
        return SelfTestResult(UNTESTED, UNAVAILABLE, "the microphone delivered no audio", at=at)
    if int(mic.max()) - int(mic.min()) <= SILENT_SPAN:
        return SelfTestResult(
            UNTESTED, SILENT, "the microphone records digital silence (no signal at all)", at=at
        )
    # The room before the sweep reached the speaker (the reference says when it did).
    sounding_at = np.flatnonzero(ref)
    first = int(sounding_at[0]) if len(sounding_at) else len(ref)
    split = max(min(int(background_seconds * rate), first, len(mic) // 2), 1)
    noise = mean_square(mic[:split])
    noise_dbfs = round(to_dbfs(noise), 1)
    played = ref[split:]
    if len(played) == 0 or to_dbfs(mean_square(played[np.abs(played) > 0])) < PLAYED_DBFS:
        return SelfTestResult(
            UNAVAILABLE,
            OK,
            "nothing reached the speaker (it cannot be opened or stopped playing)",
            noise_dbfs=noise_dbfs,
            at=at,
        )
    delay = _echo_delay(mic, ref, rate)
    sounding = np.abs(ref) > 0
    heard_at = np.zeros(len(mic), dtype=bool)
    heard_at[delay:] = sounding[: len(mic) - delay]
    heard_at[:split] = False
    if not heard_at.any():
        return SelfTestResult(UNTESTED, OK, "the recording ended before the sweep", at=at)
    during = mean_square(mic[heard_at])
    reference_power = mean_square(ref[sounding])
    delay_ms = round(delay * 1000 / rate, 1)
    rise_db = to_dbfs(during) - to_dbfs(noise) if noise > 0 else -FLOOR_DBFS
    if rise_db < HEARD_DB:
        return SelfTestResult(
            SILENT,
            OK,
            f"the microphone did not hear the sweep ({rise_db:.1f} dB over the room's "
            f"{noise_dbfs} dBFS): speaker silent, disconnected or blocked",
            noise_dbfs=noise_dbfs,
            at=at,
        )
    coupling = round(to_dbfs(max(during - noise, 1e-12)) - to_dbfs(reference_power), 1)
    return SelfTestResult(
        OK,
        OK,
        f"the microphone heard the sweep {rise_db:.1f} dB over the room, "
        f"coupling {coupling} dB, after {delay_ms} ms",
        coupling_db=coupling,
        echo_delay_ms=delay_ms,
        noise_dbfs=noise_dbfs,
        at=at,
    )


def _mono(samples: np.ndarray, channels: int) -> np.ndarray:
    if channels == 1 or len(samples) == 0:
        return samples
    first: np.ndarray = samples[::channels]
    return first


def _echo_delay(mic: np.ndarray, ref: np.ndarray, rate: int) -> int:
    """Samples from the reference to its echo: the cross-correlation's peak (0..0.5 s)."""
    size = 1
    while size < len(mic) + len(ref):
        size *= 2
    spectrum = np.fft.rfft(mic.astype(np.float64), size) * np.conj(
        np.fft.rfft(ref.astype(np.float64), size)
    )
    correlation = np.fft.irfft(spectrum, size)[: int(MAX_ECHO_DELAY_SECONDS * rate)]
    return int(np.argmax(np.abs(correlation)))


async def play(
    sink: AudioSink,
    samples: np.ndarray,
    *,
    rate: int,
    channels: int = 1,
    clock: Callable[[], float] = time.monotonic,
) -> None:
    """Write ``samples`` to ``sink`` in 20 ms frames, paced by ``clock`` like a voice."""
    chunk = int(rate * CHUNK_SECONDS) * channels
    layout = "mono" if channels == 1 else "stereo"
    started = clock()
    for index, start in enumerate(range(0, len(samples), chunk)):
        piece = samples[start : start + chunk]
        frame = av.AudioFrame.from_ndarray(piece.reshape(1, -1), format="s16", layout=layout)
        frame.sample_rate = rate
        frame.pts = start // channels
        frame.time_base = fractions.Fraction(1, rate)
        sink.write(frame)
        wait = started + (index + 1) * CHUNK_SECONDS - clock()
        if wait > 0:
            await asyncio.sleep(wait)


async def run_selftest(
    sink: AudioSink,
    pipeline: MicPipeline,
    *,
    wall: Callable[[], float] = time.time,
) -> SelfTestResult:
    """Record the room, play the sweep on ``sink``, record its echo; then :func:`analyse`.

    The outgoing audio is held silent meanwhile (the far end does not hear the sweep).
    Bounded: a microphone that delivers nothing ends the wait after the test's length
    plus RECORD_SLACK_SECONDS.
    """
    settings = pipeline.settings
    total = BACKGROUND_SECONDS + SWEEP_SECONDS + TAIL_SECONDS
    recording = pipeline.record(total)
    pipeline.hold_output = True
    try:
        await asyncio.sleep(BACKGROUND_SECONDS)
        tone = sweep(settings.rate, settings.channels)
        await play(sink, tone, rate=settings.rate, channels=settings.channels)
        await asyncio.sleep(TAIL_SECONDS)
        # The capture thread fills the recording; give its buffering a bounded while.
        for _ in range(round(RECORD_SLACK_SECONDS / SLACK_STEP_SECONDS)):
            if recording.frames >= recording.wanted:
                break
            await asyncio.sleep(SLACK_STEP_SECONDS)
    finally:
        pipeline.hold_output = False
    microphone, reference = recording.arrays()
    if recording.frames == 0:
        microphone = np.zeros(0, dtype=np.int16)
    return analyse(microphone, reference, rate=settings.rate, channels=settings.channels, at=wall())


def with_open_errors(
    result: SelfTestResult, *, microphone: str | None, speaker: str | None
) -> SelfTestResult:
    """``result`` corrected by what failed to open (the reason is the best message)."""
    if microphone is None and speaker is None:
        return result
    if microphone is not None:
        speaker_state = UNAVAILABLE if speaker is not None else UNTESTED
        reasons = [microphone] + ([speaker] if speaker is not None else [])
        return dataclasses.replace(
            result, microphone=UNAVAILABLE, speaker=speaker_state, message="; ".join(reasons)
        )
    assert speaker is not None
    return dataclasses.replace(result, speaker=UNAVAILABLE, message=speaker)
