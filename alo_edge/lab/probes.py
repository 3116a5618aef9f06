"""What the lab can tell about decoded media beyond counting it.

- :class:`ToneProbe`: the dominant frequency of the last second of audio, so a test
  (or a person) can see that the microphone's 1 kHz tone arrived as 1 kHz.
- :class:`LatencyProbe`: capture-to-decode latency of pictures carrying the synthetic
  source's stamp (``alo_edge.media.stamp.read_stamp``). Device and lab compare
  wall clocks, so the figure is meaningful on one machine (or NTP-synced ones).
  Pictures without a stamp (a camera) give values outside the plausible window and
  are ignored.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable

import av
import numpy as np

from alo_edge.media.stamp import read_stamp

TONE_WINDOW_SECONDS = 1.0
LATENCY_SAMPLES = 300
#: Samples kept for a ``since`` query: two minutes at 30 fps.
LATENCY_HISTORY = 3600
#: A stamp read from a picture that has none decodes to noise; beyond this it is noise.
MAX_PLAUSIBLE_LATENCY_MS = 10_000


class ToneProbe:
    """Keeps the last second of decoded audio (mono) and finds its strongest frequency."""

    def __init__(self) -> None:
        self._chunks: deque[np.ndarray] = deque()
        self._samples = 0
        self._rate = 48_000

    def add(self, frame: av.AudioFrame) -> None:
        """Append one decoded frame (any s16/flt layout aiortc's decoders produce)."""
        channels = len(frame.layout.channels)
        data = frame.to_ndarray().astype(np.float32)
        mono = data.reshape(-1, channels).mean(axis=1) if data.shape[0] == 1 else data.mean(0)
        self._rate = frame.sample_rate
        self._chunks.append(mono)
        self._samples += len(mono)
        while self._samples - len(self._chunks[0]) >= self._rate * TONE_WINDOW_SECONDS:
            self._samples -= len(self._chunks.popleft())

    def dominant_frequency(self) -> float | None:
        """The frequency (Hz, 1 Hz resolution) with the most energy; None without audio."""
        if not self._chunks:
            return None
        samples = np.concatenate(self._chunks)
        if not samples.any():
            return None
        spectrum = np.abs(np.fft.rfft(samples * np.hanning(len(samples))))
        spectrum[0] = 0.0
        peak = int(np.argmax(spectrum))
        return round(peak * self._rate / len(samples), 1)


class LatencyProbe:
    """Capture-to-decode latency of stamped pictures: the last few hundred samples."""

    def __init__(self, wall_clock: Callable[[], float] = time.time) -> None:
        self._wall_clock = wall_clock
        #: (decoded at, epoch seconds; latency, ms)
        self._latencies: deque[tuple[float, float]] = deque(maxlen=LATENCY_HISTORY)

    def add(self, frame: av.VideoFrame) -> None:
        """Read the stamp of a decoded picture; keep its latency when plausible."""
        _, capture_ms = read_stamp(frame)
        now = self._wall_clock()
        latency = (int(now * 1000) - capture_ms) % 2**32
        if latency < MAX_PLAUSIBLE_LATENCY_MS:
            self._latencies.append((now, float(latency)))

    def percentiles(self, since: float | None = None) -> dict[str, float] | None:
        """``{"p50", "p95", "samples"}`` in ms, or None before any stamped picture.

        Over the last :data:`LATENCY_SAMPLES` pictures, or over those decoded since the
        epoch time ``since`` (a fault rig asks for the pictures of one fault).
        """
        if since is None:
            recent = list(self._latencies)[-LATENCY_SAMPLES:]
        else:
            recent = [entry for entry in self._latencies if entry[0] >= since]
        if not recent:
            return None
        values = np.array([latency for _, latency in recent])
        return {
            "p50": round(float(np.percentile(values, 50)), 1),
            "p95": round(float(np.percentile(values, 95)), 1),
            "samples": len(values),
        }
