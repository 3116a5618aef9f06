"""talk.active: what counts as someone talking through the device (the update waits for it)."""

from __future__ import annotations

import av
import numpy as np

from alo_edge.media.talkback import has_voice
from alo_edge.system.conversation import talk_state


def test_not_connected_is_never_talking() -> None:
    state = talk_state(
        connected=False, push_to_talk=True, mic_open=True, last_voice_at=9.0, now=10.0
    )

    assert (state.active, state.reason) == (False, "not connected")


def test_push_to_talk_held_is_talking() -> None:
    state = talk_state(
        connected=True, push_to_talk=True, mic_open=True, last_voice_at=None, now=10.0
    )

    assert (state.active, state.reason) == (True, "push-to-talk is held")


def test_an_open_full_duplex_microphone_alone_is_not_talking() -> None:
    state = talk_state(
        connected=True, push_to_talk=False, mic_open=True, last_voice_at=None, now=10.0
    )

    assert (state.active, state.reason) == (False, "nobody is talking")


def test_the_far_ends_voice_counts_for_15_seconds() -> None:
    def at(now: float) -> bool:
        return talk_state(connected=True, push_to_talk=False, mic_open=False, last_voice_at=100.0,
                          now=now).active  # fmt: skip

    assert at(100.0) is True
    assert at(115.0) is True
    assert at(115.5) is False


def frame(peak: int) -> av.AudioFrame:
    samples = np.zeros((1, 960), dtype=np.int16)
    samples[0, 100] = peak
    result = av.AudioFrame.from_ndarray(samples, format="s16", layout="mono")
    result.sample_rate = 48000
    return result


def test_voice_is_louder_than_minus_40_dbfs_silence_is_not() -> None:
    assert has_voice(frame(0)) is False
    assert has_voice(frame(300)) is False  # ~-41 dBFS: a quiet room, not a voice
    assert has_voice(frame(3000)) is True
