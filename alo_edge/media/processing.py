"""The microphone pipeline: echo cancellation, noise suppression, gain, half duplex.

WebRTC's audio processing (AEC3, noise suppression, AGC2) comes from the
``pywebrtc-audio`` binding: one ``AudioProcessor.process(near, far)`` call per 10 ms
frame hands it the microphone frame and the reference frame together (reverse stream
first), releases the GIL, and needs nothing but numpy. Its gain controller is run as
a separate stage (``GainController``) so its noise ceiling can be set: with the
binding's defaults AGC2 lifts the residual echo and the room's noise (full-pipeline
ERLE fell from ~30 to 18 dB), with a -60 dBFS output noise ceiling it does not.

Two threads meet here and nowhere else:

- the speaker's writer thread hands :class:`EchoReference` exactly what it gave ALSA
  (``feed``), with ALSA's own delay report;
- the microphone's capture thread runs :meth:`MicPipeline.process` on each capture
  period, taking one 10 ms reference frame per 10 ms microphone frame, so the two
  streams stay frame-aligned. Whole 10 ms frames only: the binding zero-pads a
  partial frame, which would put holes in both streams.

The processed audio then continues on the capture thread's one crossing into asyncio
(:class:`~alo_edge.media.bridge.ThreadBridge`); the loop reads :attr:`MicPipeline.levels`
(a frozen snapshot, replaced whole) and records through :class:`Recording`.
"""

from __future__ import annotations

import collections
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from pywebrtc_audio import AudioProcessor, GainController, VoiceDetector

from alo_edge.media.ducking import DEFAULT_HANG_TIME, FAR_ACTIVE_DBFS, Ducker, ramp
from alo_edge.media.levels import AudioLevels, EchoEstimate, LevelMeter, mean_square, to_dbfs

FRAME_SECONDS = 0.01
#: After the speaker fell idle, the reference waits for this many frames before it is
#: taken again: the writer hands ALSA 20 ms at a time, and a reference that ran dry
#: mid-chunk would slip against the microphone.
PREBUFFER_FRAMES = 2
#: A reference further ahead than this (the capture stalled) drops its oldest frames.
MAX_REFERENCE_FRAMES = 30
#: Gain: AGC2's adaptive gain at most this high, and never lifting noise above the ceiling.
AGC_MAX_GAIN_DB = 20.0
AGC_NOISE_CEILING_DBFS = -60.0
#: Noise suppression level 0-3 (6, 12, 18, 21 dB); 1 is WebRTC's default ("moderate").
NS_LEVEL = 1
#: The speech probability above which a frame counts as someone talking at the door.
VOICE_THRESHOLD = 0.5
#: A frame with a voice keeps the echo estimate paused this many frames (0.5 s).
VOICE_HOLD_FRAMES = 50
#: The delay hint is re-read from ALSA's reports at most this often (seconds).
DELAY_UPDATE_SECONDS = 1.0


@dataclass(frozen=True)
class ProcessingSettings:
    """What the microphone pipeline does (``[audio]`` keys, resolved)."""

    echo_cancellation: bool = True
    noise_suppression: bool = True
    auto_gain: bool = True
    half_duplex: bool = False
    hang_time: float = DEFAULT_HANG_TIME
    rate: int = 48_000
    channels: int = 1

    @property
    def frame_samples(self) -> int:
        """Interleaved samples in one 10 ms frame."""
        return self.rate // 100 * self.channels


class EchoReference:
    """What the speaker played, frame-aligned for the echo canceller. Thread-safe.

    The speaker's writer thread calls :meth:`feed` with each chunk it handed ALSA and
    ALSA's delay report (frames still queued before the speaker); the capture thread
    calls :meth:`take` once per 10 ms microphone frame. While the speaker is idle
    :meth:`take` returns silence, which is what the speaker plays then.
    """

    def __init__(self, rate: int = 48_000, channels: int = 1) -> None:
        self._frame = rate // 100 * channels
        self._rate = rate
        self._lock = threading.Lock()
        self._pending = np.zeros(0, dtype=np.int16)
        self._frames: collections.deque[np.ndarray] = collections.deque()
        self._flowing = False
        self._playback_delay_frames = 0
        #: Reference frames dropped because the capture side fell behind.
        self.dropped = 0
        #: Frames fed so far (the self-test sees whether anything reached the speaker).
        self.fed = 0

    def feed(self, samples: np.ndarray, delay_frames: int | None = None) -> None:
        """Append ``samples`` (int16, interleaved) as handed to ALSA; from the writer thread."""
        with self._lock:
            pending = np.concatenate((self._pending, samples.astype(np.int16, copy=False)))
            whole = len(pending) // self._frame * self._frame
            for start in range(0, whole, self._frame):
                self._frames.append(pending[start : start + self._frame])
                self.fed += 1
            self._pending = pending[whole:]
            while len(self._frames) > MAX_REFERENCE_FRAMES:
                self._frames.popleft()
                self.dropped += 1
            if delay_frames is not None:
                self._playback_delay_frames = max(delay_frames, 0)

    def take(self) -> np.ndarray:
        """The next 10 ms the speaker played (silence while it plays nothing)."""
        with self._lock:
            if not self._flowing and len(self._frames) >= PREBUFFER_FRAMES:
                self._flowing = True
            if self._flowing and self._frames:
                return self._frames.popleft()
            self._flowing = False  # ran dry: the speaker is idle, or the writer is late
            return np.zeros(self._frame, dtype=np.int16)

    @property
    def playback_delay_seconds(self) -> float:
        """ALSA's last report of how long a sample handed to it waits before it plays."""
        return self._playback_delay_frames / self._rate

    @property
    def backlog_seconds(self) -> float:
        """How long the reference waits here for its microphone frame."""
        with self._lock:
            return len(self._frames) * FRAME_SECONDS


class Recording:
    """Raw microphone and reference frames collected for the self-test. Thread-safe.

    The capture thread appends while :attr:`wanted` frames are missing; the loop
    reads :meth:`arrays` once enough time has passed.
    """

    def __init__(self, seconds: float) -> None:
        self.wanted = round(seconds / FRAME_SECONDS)
        self._lock = threading.Lock()
        self._microphone: list[np.ndarray] = []
        self._reference: list[np.ndarray] = []

    def add(self, microphone: np.ndarray, reference: np.ndarray) -> bool:
        """Keep one frame pair; False once the recording is full."""
        with self._lock:
            if len(self._microphone) >= self.wanted:
                return False
            self._microphone.append(microphone.copy())
            self._reference.append(reference.copy())
            return True

    @property
    def frames(self) -> int:
        with self._lock:
            return len(self._microphone)

    def arrays(self) -> tuple[np.ndarray, np.ndarray]:
        """(microphone, reference) so far, int16, the same length."""
        with self._lock:
            if not self._microphone:
                empty = np.zeros(0, dtype=np.int16)
                return empty, empty
            return np.concatenate(self._microphone), np.concatenate(self._reference)


class MicPipeline:
    """The whole microphone path of one device, frame by frame, on the capture thread.

    ``reference`` is the speaker's :class:`EchoReference` (None: no speaker, so no echo
    cancellation and no half duplex). ``clock`` gives the ducking its time (monotonic
    seconds; the bench passes a frame counter).
    """

    def __init__(
        self,
        settings: ProcessingSettings,
        reference: EchoReference | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings
        self.reference = reference
        self._clock = clock
        self._frame = settings.frame_samples
        echo = settings.echo_cancellation and reference is not None
        self._processor = _processor(settings, echo=echo)
        # With neither AEC nor NS the audio passes untouched; a voice detector still
        # tells /status (and the self-test's scheduler) whether someone is talking.
        self._voice = (
            VoiceDetector(settings.rate, settings.channels) if not self._processor else None
        )
        self._gain = _gain_controller(settings) if settings.auto_gain else None
        self._ducker = (
            Ducker(settings.hang_time) if settings.half_duplex and reference is not None else None
        )
        self._duck_gain = 1.0
        self._meters = {name: LevelMeter() for name in ("microphone", "speaker", "output")}
        self._echo = EchoEstimate()
        self._voice_hold = 0
        self._capture_delay_frames = 0
        self._delay_set_at: float | None = None
        self._stream_delay_ms = 0
        self._recording: Recording | None = None
        #: While True the output is silence (the self-test's sweep stays off the line).
        self.hold_output = False
        #: 10 ms frames processed so far.
        self.frames = 0
        self.levels = AudioLevels(
            microphone_dbfs=-120.0,
            speaker_dbfs=-120.0,
            output_dbfs=-120.0,
            echo_return_loss_db=None,
            echo_return_loss_enhancement_db=None,
            voice_probability=0.0,
            voice_active=False,
            far_end_active=False,
            ducked=False,
            stream_delay_ms=0,
        )
        """The latest reading, a frozen snapshot replaced once per frame."""

    def set_capture_delay(self, frames: int) -> None:
        """ALSA's report of captured frames still waiting to be read (capture thread)."""
        self._capture_delay_frames = max(frames, 0)

    def record(self, seconds: float) -> Recording:
        """Start recording raw microphone and reference frames for ``seconds``."""
        recording = Recording(seconds)
        self._recording = recording
        return recording

    def process(self, samples: np.ndarray) -> np.ndarray:
        """Process int16 interleaved ``samples`` (whole 10 ms frames); returns the output."""
        frame = self._frame
        whole = len(samples) // frame * frame
        out = samples.copy()
        for start in range(0, whole, frame):
            out[start : start + frame] = self._process_frame(samples[start : start + frame])
        return out

    def _process_frame(self, near: np.ndarray) -> np.ndarray:
        far = (
            self.reference.take()
            if self.reference is not None
            else np.zeros(self._frame, dtype=np.int16)
        )
        recording = self._recording
        if recording is not None and not recording.add(near, far):
            self._recording = None
        now = self._clock()
        self._update_delay(now)
        out = near
        if self._processor is not None:
            out = self._processor.process(near, far)
            probability = float(self._processor.speech_probability)
        else:
            assert self._voice is not None
            probability = float(self._voice.process(near))
        if self._gain is not None:
            out = self._gain.process(out, probability)
        far_power, near_power = mean_square(far), mean_square(near)
        far_dbfs = to_dbfs(far_power)
        if self._ducker is not None:
            gain = self._ducker.update(now, far_dbfs)
            out = ramp(out, self._duck_gain, gain)
            self._duck_gain = gain
        if self.hold_output:
            out = np.zeros_like(out)
        out_power = mean_square(out)
        self._update_levels(far_power, near_power, out_power, probability)
        self.frames += 1
        return out

    def _update_delay(self, now: float) -> None:
        if self._delay_set_at is not None and now - self._delay_set_at < DELAY_UPDATE_SECONDS:
            return
        self._delay_set_at = now
        if self.reference is None:
            return
        # WebRTC's stream delay: (render - analyse) + (process - capture). The reference
        # is analysed when taken here, after waiting in the backlog.
        rate = self.settings.rate
        seconds = (
            self.reference.playback_delay_seconds
            + self._capture_delay_frames / rate
            - self.reference.backlog_seconds
        )
        self._stream_delay_ms = max(round(seconds * 1000), 0)
        if self._processor is not None:
            self._processor.stream_delay_ms = self._stream_delay_ms

    def _update_levels(
        self, far_power: float, near_power: float, out_power: float, probability: float
    ) -> None:
        meters = self._meters
        meters["microphone"].update(near_power)
        meters["speaker"].update(far_power)
        meters["output"].update(out_power)
        far_active = to_dbfs(far_power) > FAR_ACTIVE_DBFS
        voice = probability > VOICE_THRESHOLD
        if voice:
            self._voice_hold = VOICE_HOLD_FRAMES
        elif self._voice_hold:
            self._voice_hold -= 1
        # Only the far end talking: the echo figures. The voice detector dips between a
        # visitor's syllables, so a voice holds the estimate for VOICE_HOLD_FRAMES after.
        if far_active and not self._voice_hold and not self.hold_output:
            self._echo.update(far_power, near_power, out_power)
        self.levels = AudioLevels(
            microphone_dbfs=round(meters["microphone"].dbfs, 1),
            speaker_dbfs=round(meters["speaker"].dbfs, 1),
            output_dbfs=round(meters["output"].dbfs, 1),
            echo_return_loss_db=self._echo.return_loss_db,
            echo_return_loss_enhancement_db=self._echo.enhancement_db,
            voice_probability=round(probability, 2),
            voice_active=voice,
            far_end_active=far_active,
            ducked=self._ducker is not None and self._ducker.ducked,
            stream_delay_ms=self._stream_delay_ms,
        )


def _processor(settings: ProcessingSettings, *, echo: bool) -> AudioProcessor | None:
    if not (echo or settings.noise_suppression):
        return None
    return AudioProcessor(
        sample_rate=settings.rate,
        num_channels=settings.channels,
        echo_cancellation=echo,
        noise_suppression=settings.noise_suppression,
        ns_level=NS_LEVEL,
    )


def _gain_controller(settings: ProcessingSettings) -> GainController:
    return GainController(
        sample_rate=settings.rate,
        num_channels=settings.channels,
        max_gain_db=AGC_MAX_GAIN_DB,
        max_output_noise_level_dbfs=AGC_NOISE_CEILING_DBFS,
    )
