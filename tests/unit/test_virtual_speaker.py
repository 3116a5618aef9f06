"""The demo's virtual speaker: the level of what talk-back plays, and the lines it prints."""

from __future__ import annotations

import av
import numpy as np

from alo_edge.media.virtual_speaker import LevelLines, VirtualSpeaker, peak_level


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def frame(amplitude: int, samples: int = 960) -> av.AudioFrame:
    data = np.full((1, samples), amplitude, dtype=np.int16)
    out = av.AudioFrame.from_ndarray(data, format="s16", layout="mono")
    out.sample_rate = 48_000
    return out


def test_peak_level_is_a_fraction_of_full_scale() -> None:
    assert peak_level(frame(0)) == 0.0
    assert peak_level(frame(16384)) == 0.5
    assert peak_level(frame(-32768)) == 1.0


async def test_the_level_follows_what_is_played_and_falls_when_it_stops() -> None:
    clock = FakeClock()
    speaker = VirtualSpeaker(clock)
    speaker.write(frame(16384))
    assert speaker.level == 0.0, "a speaker that is not started plays nothing"
    await speaker.start()
    for _ in range(5):
        speaker.write(frame(0))
        clock.now += 0.02
    assert speaker.level == 0.0
    speaker.write(frame(16384))
    assert speaker.level == 0.5
    for _ in range(15):  # 0.3 s of silence after the voice: out of the 0.2 s window
        clock.now += 0.02
        speaker.write(frame(0))
    assert speaker.level == 0.0
    speaker.write(frame(8192))
    clock.now += 0.6  # the track stopped: nothing counts any more
    assert speaker.level == 0.0
    assert speaker.frames_played == 22
    speaker.stop()
    speaker.write(frame(16384))
    assert speaker.frames_played == 22


def test_level_lines_announce_talk_back_sound_and_silence() -> None:
    lines = LevelLines()
    seen = []
    # level, seconds, receiving: nothing arrives, then silence, a voice for 2.5 s, silence.
    steps = [(0.0, 0.0, False), (0.0, 0.1, True), (0.0, 0.2, True)]
    steps += [(0.5, 1.0 + i / 10, True) for i in range(25)]
    steps += [(0.0, 3.5 + i / 10, True) for i in range(15)]
    for level, now, receiving in steps:
        line = lines.update(level, now, receiving=receiving)
        if line is not None:
            seen.append((now, line))
    assert seen == [
        (0.1, "speaker: receiving talk-back (silent until someone holds Hold to talk)"),
        (1.0, "speaker: talk-back playing, level 0.50 |##########          |"),
        (2.0, "speaker: talk-back, level 0.50 |##########          |"),
        (3.0, "speaker: talk-back, level 0.50 |##########          |"),
        (4.4, "speaker: silent"),
    ]
