"""The lab's live-view pieces that need no network: the talk-back mix and the feeds."""

from __future__ import annotations

import fractions

import av
import numpy as np

from alo_edge.lab.relay import TALKBACK_SAMPLES, LiveChannel, LiveFeed, ViewerMicrophoneMix


def stereo_frame(value: int, samples: int = TALKBACK_SAMPLES) -> av.AudioFrame:
    data = np.full((1, samples * 2), value, dtype=np.int16)
    frame = av.AudioFrame.from_ndarray(data, format="s16", layout="stereo")
    frame.sample_rate = 48_000
    frame.pts = 0
    frame.time_base = fractions.Fraction(1, 48_000)
    return frame


class FakeClock:
    def __init__(self) -> None:
        self.now = 10.0

    def __call__(self) -> float:
        return self.now


def test_nobody_talking_is_silence() -> None:
    mixer = ViewerMicrophoneMix(clock=FakeClock())
    mixer.add_input("a")
    assert not mixer.mix_next().any()
    assert mixer.mix_next().size == TALKBACK_SAMPLES * 2


def test_two_talkers_are_summed_and_clipped() -> None:
    clock = FakeClock()
    mixer = ViewerMicrophoneMix(clock=clock)
    for key in ("a", "b"):
        mixer.add_input(key)
    mixer.push("a", stereo_frame(1000))
    mixer.push("b", stereo_frame(2000))
    assert mixer.talking() == 2
    assert set(mixer.mix_next().tolist()) == {3000}
    mixer.push("a", stereo_frame(30_000))
    mixer.push("b", stereo_frame(30_000))
    assert set(mixer.mix_next().tolist()) == {32767}
    clock.now += 1.0
    assert mixer.talking() == 0


def test_a_viewer_that_left_is_not_mixed() -> None:
    mixer = ViewerMicrophoneMix(clock=FakeClock())
    mixer.add_input("a")
    mixer.push("a", stereo_frame(500))
    mixer.remove_input("a")
    mixer.push("a", stereo_frame(500))  # late frames of a closed viewer are ignored
    assert not mixer.mix_next().any()


async def test_the_feed_keeps_the_newest_frame_and_restamps_audio_on_its_own_timeline() -> None:
    feed = LiveFeed("audio", maxsize=2)
    first, second, third = (stereo_frame(v) for v in (1, 2, 3))
    third.pts = 123_456_789  # a new ingest session's RTP timeline
    for frame in (first, second, third):
        feed.push(frame)
    got = [await feed.recv(), await feed.recv()]
    assert [int(f.to_ndarray()[0, 0]) for f in got] == [2, 3]  # the oldest was dropped
    assert [f.pts for f in got] == [0, TALKBACK_SAMPLES]


async def test_a_channel_records_resent_states_once_and_numbers_them() -> None:
    live = LiveChannel("door")
    events = [{"ts": 1.0, "state": "CONNECTING"}, {"ts": 2.0, "state": "CONNECTED"}]
    assert live.record_states(events) == 2
    assert live.record_states([*events, {"ts": 3.0, "state": "ERROR"}]) == 1
    assert [(e["seq"], e["state"]) for e in live.timeline] == [
        (0, "CONNECTING"),
        (1, "CONNECTED"),
        (2, "ERROR"),
    ]
    await live.close()
