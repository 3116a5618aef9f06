"""HARDWARE: ALSA capture (the microphone) and playback (talk-back) through pyalsaaudio.

Capture runs in a thread reading 20 ms periods, paced by the clock: a sound card
blocks each read until the period is recorded, but ALSA ``type file`` devices (the
tests', and any plugin reading from a file) return data at once, and a microphone
that runs ahead of real time would flood aiortc's Opus encoder. Each 20 ms frame
crosses into asyncio through one :class:`~alo_edge.media.bridge.ThreadBridge`.

Playback is the mirror image: the transport hands each decoded remote frame to the
sink on the event loop, which resamples it to the device's format and queues it,
bounded, for a writer thread that feeds the device.

With audio processing on (:mod:`~alo_edge.media.processing`), the writer thread hands
its :class:`EchoReference` exactly what it gave ALSA with ALSA's delay report
(``buffer_size - avail()``: pyalsaaudio 0.11 has no ``snd_pcm_delay`` binding), and
the capture thread runs each period through the :class:`MicPipeline` (with its own
delay report, ``avail()``) before the frame crosses into asyncio.

pyalsaaudio is imported inside functions only (``pip install 'alo-edge[pi]'``; it
builds against libasound2-dev with gcc), so this module imports anywhere.
"""

from __future__ import annotations

import asyncio
import contextlib
import fractions
import logging
import queue
import threading
import time
from typing import Any

import av
import numpy as np
from av.frame import Frame

from alo_edge.errors import HardwareError
from alo_edge.media.bridge import BridgedTrack
from alo_edge.media.device import ThreadedDevice
from alo_edge.media.processing import EchoReference, MicPipeline

logger = logging.getLogger(__name__)

PTIME = 0.020
#: 200 ms of audio: the loop may stall that long before the oldest frame is dropped.
QUEUE_FRAMES = 10
JOIN_SECONDS = 2.0
#: A capture this far behind the clock (a stalled read) restarts pacing from now.
MAX_LAG_SECONDS = 0.5
MISSING_PYALSAAUDIO = (
    "pyalsaaudio is not installed: pip install 'alo-edge[pi]' "
    "(it builds against libasound2-dev with gcc)"
)


def _alsaaudio() -> Any:
    try:
        import alsaaudio
    except ImportError as exc:
        raise HardwareError(f"{MISSING_PYALSAAUDIO} ({exc})") from None
    return alsaaudio


def _open_pcm(kind: str, device: str, rate: int, channels: int, period: int) -> Any:
    alsaaudio = _alsaaudio()
    pcm_type = alsaaudio.PCM_CAPTURE if kind == "capture" else alsaaudio.PCM_PLAYBACK
    try:
        return alsaaudio.PCM(
            pcm_type,
            alsaaudio.PCM_NORMAL,
            device=device,
            rate=rate,
            channels=channels,
            format=alsaaudio.PCM_FORMAT_S16_LE,
            periodsize=period,
        )
    except alsaaudio.ALSAAudioError as exc:
        what = "microphone" if kind == "capture" else "speaker"
        raise HardwareError(f"ALSA {what} {device!r} cannot be opened: {exc}") from None


def _layout(channels: int) -> str:
    return "mono" if channels == 1 else "stereo"


class AlsaSource(ThreadedDevice[Frame, BridgedTrack]):
    """The ``alsa`` audio source: ``device`` at ``rate`` Hz, ``channels``, 20 ms frames.

    :meth:`start` opens the device (HardwareError when it is missing), :meth:`stop`
    closes it; :meth:`restart` does both without ending the track. While muted the
    frames carry silence and keep their pace. ``pipeline`` processes every period on
    the capture thread (echo cancellation, noise suppression, gain, half duplex).
    """

    kind = "audio"

    def __init__(
        self,
        device: str = "default",
        rate: int = 48_000,
        channels: int = 1,
        *,
        pipeline: MicPipeline | None = None,
    ) -> None:
        super().__init__(QUEUE_FRAMES, lambda bridge: BridgedTrack("audio", bridge))
        self.pipeline = pipeline
        self._device = device
        self._rate = rate
        self._channels = channels
        self._samples = int(rate * PTIME)
        self._pcm: Any = None
        self._reader: threading.Thread | None = None
        self._stopping = threading.Event()
        self._sent = 0  # samples handed out, across restarts: pts never goes back
        self.muted = False

    @property
    def device_id(self) -> str:
        return f"alsa:{self._device}"

    def set_muted(self, muted: bool) -> None:
        """Send silence instead of the microphone (the track stays live and paced)."""
        self.muted = muted

    def _open(self) -> None:
        self._pcm = _open_pcm("capture", self._device, self._rate, self._channels, self._samples)
        self._stopping.clear()
        self._reader = threading.Thread(
            target=self._capture, args=(self._pcm,), name=f"alsa {self._device}", daemon=True
        )
        self._reader.start()
        logger.info("microphone %s: %d Hz, %d channel(s)", self._device, self._rate, self._channels)

    def _close(self) -> None:
        reader, self._reader = self._reader, None
        self._stopping.set()
        if reader is not None:
            reader.join(JOIN_SECONDS)
        pcm, self._pcm = self._pcm, None
        if pcm is not None and (reader is None or not reader.is_alive()):
            pcm.close()

    def _capture(self, pcm: Any) -> None:
        frame_bytes = self._samples * self._channels * 2
        pending = bytearray()
        started = time.monotonic()
        paced = 0
        try:
            while not self._stopping.is_set():
                length, data = pcm.read()
                if length <= 0:
                    continue  # an overrun (-EPIPE): alsa-lib has recovered, read on
                pending += data
                if self.pipeline is not None:
                    self.pipeline.set_capture_delay(pcm.avail())
                while len(pending) >= frame_bytes and not self._stopping.is_set():
                    chunk = bytes(pending[:frame_bytes])
                    del pending[:frame_bytes]
                    paced += self._samples
                    due = started + paced / self._rate
                    lag = time.monotonic() - due
                    if lag > MAX_LAG_SECONDS:
                        started = time.monotonic() - paced / self._rate
                    elif lag < 0 and self._stopping.wait(-lag):
                        return
                    self._bridge.push(self._frame(chunk))
        except Exception as exc:  # ALSAAudioError, and the device vanishing under us
            logger.warning("microphone %s stopped delivering: %s", self._device, exc)

    def _frame(self, chunk: bytes) -> av.AudioFrame:
        samples = np.frombuffer(chunk, dtype="<i2")
        if self.pipeline is not None:
            samples = self.pipeline.process(samples)
        samples = samples.reshape(1, -1)
        if self.muted:
            samples = np.zeros_like(samples)
        frame = av.AudioFrame.from_ndarray(samples, format="s16", layout=_layout(self._channels))
        frame.sample_rate = self._rate
        frame.pts = self._sent
        frame.time_base = fractions.Fraction(1, self._rate)
        self._sent += self._samples
        return frame


class AlsaPlaybackSink:
    """Plays remote audio (talk-back) on ALSA ``device`` at ``rate`` Hz, ``channels``.

    An :class:`~alo_edge.media.base.AudioSink`: the transport calls :meth:`write` on
    the event loop with every decoded frame of the remote track. Frames are resampled
    to the device's format there and cross to a writer thread through a bounded
    queue; when the device falls behind the oldest are dropped and counted. What the
    writer hands ALSA also goes to ``reference`` (the echo canceller's reference).
    """

    def __init__(
        self,
        device: str = "default",
        rate: int = 48_000,
        channels: int = 1,
        *,
        reference: EchoReference | None = None,
    ) -> None:
        self.reference = reference
        self._device = device
        self._rate = rate
        self._channels = channels
        self._pcm: Any = None
        self._resampler = av.AudioResampler(format="s16", layout=_layout(channels), rate=rate)
        self._input_shape: tuple[str, str, int] | None = None
        self._writes: queue.Queue[bytes] = queue.Queue(QUEUE_FRAMES * 2)
        self._writer: threading.Thread | None = None
        self._stopping = threading.Event()
        #: Bytes handed to the device so far, and chunks dropped because it fell behind.
        self.written = 0
        self.dropped = 0

    @property
    def device_id(self) -> str:
        return f"alsa:{self._device}"

    async def start(self) -> None:
        """Open the speaker; HardwareError when it is missing."""
        period = int(self._rate * PTIME)
        self._pcm = await asyncio.to_thread(
            _open_pcm, "playback", self._device, self._rate, self._channels, period
        )
        self._stopping.clear()
        self._writer = threading.Thread(
            target=self._write, args=(self._pcm,), name=f"alsa-play {self._device}", daemon=True
        )
        self._writer.start()

    def write(self, frame: av.AudioFrame) -> None:
        """Queue ``frame`` for playback (ignored until :meth:`start` and after :meth:`stop`)."""
        if self._writer is None:
            return
        bytes_per_sample = 2 * self._channels
        shape = (frame.format.name, frame.layout.name, frame.sample_rate)
        if shape != self._input_shape:
            # Talk-back (stereo from aiortc's Opus decoder) and the self-test's sweep
            # (mono) share this speaker; a resampler takes one input shape only.
            self._input_shape = shape
            self._resampler = av.AudioResampler(
                format="s16", layout=_layout(self._channels), rate=self._rate
            )
        for out in self._resampler.resample(frame):
            self._enqueue(bytes(out.planes[0])[: out.samples * bytes_per_sample])

    def stop(self) -> None:
        writer, self._writer = self._writer, None
        self._stopping.set()
        if writer is not None:
            writer.join(JOIN_SECONDS)
        pcm, self._pcm = self._pcm, None
        if pcm is not None and (writer is None or not writer.is_alive()):
            pcm.close()

    def _enqueue(self, data: bytes) -> None:
        # The loop side of the crossing: never block the loop; drop the oldest when full.
        while True:
            try:
                self._writes.put_nowait(data)
                return
            except queue.Full:
                with contextlib.suppress(queue.Empty):
                    self._writes.get_nowait()
                    self.dropped += 1

    def _write(self, pcm: Any) -> None:
        reference = self.reference
        frame_bytes = 2 * self._channels
        # Paced by the clock, as capture is: a sound card blocks each write once its
        # buffer is full, a ``type file`` device never does, and a speaker fed faster
        # than real time (talk-back and the self-test's sweep at once) would run ahead
        # of the microphone it echoes into. ``ahead`` never passes one ALSA buffer.
        started = time.monotonic()
        played = 0.0  # seconds handed to the device since ``started``
        try:
            buffer_frames = int(pcm.info()["buffer_size"])
            allowed = buffer_frames / self._rate
            while not self._stopping.is_set():
                try:
                    data = self._writes.get(timeout=0.1)
                except queue.Empty:
                    continue
                now = time.monotonic()
                if played < now - started:
                    started, played = now, 0.0  # idle or an underrun: the device restarts
                ahead = played - (now - started)
                if ahead > allowed and self._stopping.wait(ahead - allowed):
                    return
                pcm.write(data)
                played += len(data) / frame_bytes / self._rate
                self.written += len(data)
                if reference is not None:
                    # ALSA's delay report: what is queued in its buffer plays before this.
                    queued = buffer_frames - int(pcm.avail())
                    reference.feed(np.frombuffer(data, dtype="<i2"), queued)
        except Exception as exc:  # ALSAAudioError, the device vanishing under us
            logger.warning("speaker %s stopped playing: %s", self._device, exc)
