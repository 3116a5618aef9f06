"""Talk-back from a room: two real paced tone tracks mixed onto one sink, one muted locally."""

from __future__ import annotations

import asyncio

import av
import numpy as np
import pytest

from alo_edge.media.synthetic import ToneTrack
from alo_edge.media.talkback_mixer import CHUNK_SAMPLES, RATE, TalkbackMixer

pytestmark = pytest.mark.integration


class RecordingSink:
    """An AudioSink that keeps what it is given."""

    def __init__(self) -> None:
        self.frames: list[av.AudioFrame] = []

    def write(self, frame: av.AudioFrame) -> None:
        self.frames.append(frame)

    def stop(self) -> None:
        return None

    def samples(self, since: int = 0) -> np.ndarray:
        chunks = [f.to_ndarray().reshape(-1) for f in self.frames[since:]]
        return np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.int16)


def energy_at(samples: np.ndarray, frequency: float) -> float:
    spectrum = np.abs(np.fft.rfft(samples.astype(np.float64) * np.hanning(len(samples))))
    index = round(frequency * len(samples) / RATE)
    return float(spectrum[index - 2 : index + 3].max() / len(samples))


async def test_two_voices_are_mixed_and_a_muted_one_falls_silent() -> None:
    sink = RecordingSink()
    mixer = TalkbackMixer(sink)
    low, high = ToneTrack(500.0), ToneTrack(2000.0)
    try:
        mixer.add("operator", low)
        mixer.add("guard", high)
        await asyncio.sleep(0.6)
        mark = len(sink.frames)
        await asyncio.sleep(0.5)
        both = sink.samples(mark)
        assert energy_at(both, 500) > 1000
        assert energy_at(both, 2000) > 1000

        mixer.set_muted("guard", True)
        assert mixer.is_muted("guard")
        await asyncio.sleep(0.1)
        mark = len(sink.frames)
        await asyncio.sleep(0.5)
        one = sink.samples(mark)
        assert energy_at(one, 500) > 1000
        assert energy_at(one, 2000) < 10

        mixer.set_muted("operator", True)
        await asyncio.sleep(0.1)
        mark = len(sink.frames)
        await asyncio.sleep(0.3)
        # Still a frame every 20 ms, all silence: a speaker that stops would underrun.
        assert len(sink.frames) - mark >= 10
        assert np.abs(sink.samples(mark)).max() == 0
        assert all(f.samples == CHUNK_SAMPLES and f.sample_rate == RATE for f in sink.frames)
    finally:
        await mixer.stop()
        low.stop()
        high.stop()


async def test_removing_every_voice_stops_the_frames_and_stop_ends_every_task() -> None:
    sink = RecordingSink()
    mixer = TalkbackMixer(sink)
    tone = ToneTrack(1000.0)
    try:
        mixer.add("operator", tone)
        await asyncio.sleep(0.3)
        assert sink.frames
        mixer.remove("operator")
        assert mixer.voices == []
        await asyncio.sleep(0.05)
        count = len(sink.frames)
        await asyncio.sleep(0.2)
        assert len(sink.frames) == count  # nobody to play: nothing written
    finally:
        await mixer.stop()
        tone.stop()
    own = [t for t in asyncio.all_tasks() if t.get_name().startswith("alo-edge")]
    assert own == []
