"""The microphone pipeline's parts: ducking (fake clock), the reference, levels, the APM.

Pure logic gets its time passed in; the pipeline runs the real WebRTC binding on
numpy signals (no devices).
"""

from __future__ import annotations

import numpy as np
import pytest

from alo_edge.media.ducking import Ducker, ramp
from alo_edge.media.levels import EchoEstimate, LevelMeter, mean_square, to_dbfs
from alo_edge.media.processing import (
    MAX_REFERENCE_FRAMES,
    EchoReference,
    MicPipeline,
    ProcessingSettings,
)
from alo_edge.system.audio import QuietGate

LOUD, SILENT = -20.0, -120.0
OFF = ProcessingSettings(echo_cancellation=False, noise_suppression=False, auto_gain=False)


def frames_of(ducker: Ducker, levels: list[float], start: float = 0.0) -> list[float]:
    return [ducker.update(start + i * 0.01, level) for i, level in enumerate(levels)]


# --- ducking ---------------------------------------------------------------------------


def test_the_microphone_ducks_at_once_and_reopens_a_hang_time_after_the_far_end() -> None:
    ducker = Ducker(hang_time=0.5, fade=0.02)
    assert ducker.update(0.0, SILENT) == 1.0
    assert ducker.update(0.01, LOUD) == 0.5  # a 20 ms fade, 10 ms frames
    assert ducker.update(0.02, LOUD) == 0.0
    assert ducker.ducked
    # Short pauses of the far end (within the hang time) keep it ducked...
    gains = frames_of(ducker, [SILENT] * 40 + [LOUD] + [SILENT] * 48, start=0.03)
    assert max(gains) == 0.0
    # ...and 0.5 s after the last loud frame (at 0.43 s) it fades back in.
    gains = frames_of(ducker, [SILENT] * 4, start=0.92)
    assert gains == pytest.approx([0.0, 0.5, 1.0, 1.0])
    assert not ducker.ducked


def test_the_far_end_below_the_threshold_does_not_duck() -> None:
    ducker = Ducker(hang_time=0.5, threshold_dbfs=-50.0)
    assert frames_of(ducker, [-55.0] * 20) == [1.0] * 20
    assert ducker.update(0.2, -45.0) < 1.0


def test_a_ramp_fades_without_a_step() -> None:
    samples = np.full(480, 10_000, dtype=np.int16)
    faded = ramp(samples, 1.0, 0.0)
    assert faded[0] == 10_000
    assert faded[-1] < 100
    assert np.all(np.diff(faded.astype(int)) <= 0)
    assert np.array_equal(ramp(samples, 1.0, 1.0), samples)
    assert not ramp(samples, 0.0, 0.0).any()


# --- the reference ---------------------------------------------------------------------


def test_the_reference_comes_out_in_whole_10_ms_frames_in_order() -> None:
    reference = EchoReference(48_000, 1)
    played = np.arange(48_000 // 10, dtype=np.int16)  # 100 ms
    # The speaker's writer hands over uneven pieces; the capture side takes 10 ms frames.
    for piece in np.split(played, [700, 960, 2500, 3000]):
        reference.feed(piece, delay_frames=1920)
    taken = np.concatenate([reference.take() for _ in range(10)])
    assert np.array_equal(taken, played)
    assert reference.playback_delay_seconds == pytest.approx(0.04)
    assert not reference.take().any()  # the speaker went idle: silence


def test_after_running_dry_the_reference_waits_for_two_frames_before_it_flows() -> None:
    reference = EchoReference(48_000, 1)
    one = np.full(480, 7, dtype=np.int16)
    reference.feed(one)
    assert not reference.take().any()  # one frame is not enough to start on
    reference.feed(one * 2)
    assert reference.take()[0] == 7
    assert reference.take()[0] == 14
    assert not reference.take().any()


def test_a_reference_far_ahead_of_the_microphone_drops_its_oldest_frames() -> None:
    reference = EchoReference(48_000, 1)
    for index in range(MAX_REFERENCE_FRAMES + 5):
        reference.feed(np.full(480, index, dtype=np.int16))
    assert reference.dropped == 5
    assert reference.take()[0] == 5


# --- levels ----------------------------------------------------------------------------


def test_a_level_meter_follows_up_at_once_and_falls_slowly() -> None:
    meter = LevelMeter(release=0.3)
    tone = (np.sin(np.arange(480) / 5) * 3277).astype(np.int16)  # -20 dBFS peak, -23 RMS
    meter.update(mean_square(tone))
    assert meter.dbfs == pytest.approx(-23.0, abs=0.2)
    for _ in range(30):
        meter.update(0.0)
    assert meter.dbfs == pytest.approx(-23.0 - 4.34, abs=0.2)  # 1/e in power over 0.3 s
    assert to_dbfs(0.0) == -120.0


def test_the_echo_estimate_reads_return_loss_and_its_enhancement() -> None:
    estimate = EchoEstimate()
    assert estimate.return_loss_db is None
    for _ in range(100):
        estimate.update(speaker=1e-2, microphone=1e-3, output=1e-6)
    assert estimate.return_loss_db == pytest.approx(10.0)
    assert estimate.enhancement_db == pytest.approx(30.0)


def test_quiet_means_nobody_talked_for_the_whole_time() -> None:
    gate = QuietGate(2.0)
    assert not gate.observe(0.0, talking=False)
    assert not gate.observe(1.5, talking=True)  # someone spoke: start again
    assert not gate.observe(2.0, talking=False)
    assert not gate.observe(3.9, talking=False)
    assert gate.observe(4.0, talking=False)


# --- the pipeline ----------------------------------------------------------------------


def noise(seconds: float, rms: float, seed: int) -> np.ndarray:
    values = np.random.default_rng(seed).standard_normal(int(seconds * 48_000)) * rms
    return np.clip(values, -32768, 32767).astype(np.int16)


def run(pipeline: MicPipeline, mic: np.ndarray, far: np.ndarray) -> np.ndarray:
    out = []
    for start in range(0, len(mic), 960):  # the writer's 20 ms, then the capture's 20 ms
        if pipeline.reference is not None:
            pipeline.reference.feed(far[start : start + 960])
        out.append(pipeline.process(mic[start : start + 960]))
    return np.concatenate(out)


def test_with_processing_off_the_microphone_passes_untouched_and_is_measured() -> None:
    pipeline = MicPipeline(OFF, EchoReference())
    mic = noise(0.2, 3000, seed=1)
    assert np.array_equal(run(pipeline, mic, np.zeros_like(mic)), mic)
    assert pipeline.frames == 20
    assert pipeline.levels.microphone_dbfs == pytest.approx(to_dbfs(mean_square(mic)), abs=1)
    pipeline.hold_output = True
    assert not run(pipeline, mic, np.zeros_like(mic)).any()


def test_echo_cancellation_removes_what_the_speaker_played_from_the_microphone() -> None:
    far = noise(4.0, 3000, seed=2)  # white noise: every band of the canceller adapts
    echo = np.zeros(len(far))
    delay = 48_000 * 80 // 1000
    echo[delay:] = far[:-delay] * 0.3 + np.roll(far, 480)[:-delay] * 0.1  # a path with a tail
    mic = (echo + noise(4.0, 30, seed=3)).astype(np.int16)
    cancelled = run(
        MicPipeline(ProcessingSettings(noise_suppression=False, auto_gain=False), EchoReference()),
        mic,
        far,
    )
    late = slice(48_000 * 2, None)  # after 2 s of convergence
    erle = to_dbfs(mean_square(mic[late])) - to_dbfs(mean_square(cancelled[late]))
    assert erle > 15
    # Without the reference the same microphone comes through: the reference is what works.
    passed = run(
        MicPipeline(ProcessingSettings(noise_suppression=False, auto_gain=False), EchoReference()),
        mic,
        np.zeros_like(far),
    )
    assert to_dbfs(mean_square(mic[late])) - to_dbfs(mean_square(passed[late])) < 6


def test_half_duplex_ducks_the_output_while_the_speaker_plays_and_after_the_hang_time() -> None:
    clock = [0.0]
    settings = ProcessingSettings(
        echo_cancellation=False,
        noise_suppression=False,
        auto_gain=False,
        half_duplex=True,
        hang_time=0.3,
    )
    pipeline = MicPipeline(settings, EchoReference(), clock=lambda: clock[0])
    mic = noise(0.02, 3000, seed=4)
    outputs = []
    for index in range(100):  # 1 s: the far end plays for the first 0.4 s
        far = noise(0.02, 3000, seed=5) if index < 20 else np.zeros(960, dtype=np.int16)
        pipeline.reference.feed(far)  # type: ignore[union-attr]
        outputs.append(pipeline.process(mic))
        clock[0] += 0.02
    levels = [to_dbfs(mean_square(out)) for out in outputs]
    assert max(levels[4:20]) == -120.0  # ducked to silence while the far end plays
    assert max(levels[22:34]) == -120.0  # and during the 0.3 s hang time
    assert min(levels[40:]) > -30.0  # then the microphone is back
