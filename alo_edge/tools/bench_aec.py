"""``scripts/bench aec``: the microphone pipeline in a simulated room, three ways side by side.

It prints one JSON object with a figure set for each configuration of the device's
microphone pipeline (:class:`~alo_edge.media.processing.MicPipeline`, the code the
device runs, with its :class:`~alo_edge.media.processing.EchoReference` fed 20 ms at a
time as the speaker's writer feeds it):

- ``default``: echo cancellation, noise suppression and automatic gain, as configured
  when talk-back is on;
- ``half_duplex``: the same with ``audio.mode = "half_duplex"`` (ducking);
- ``off``: no processing.

The room (:mod:`alo_edge.tools.room`): espeak-ng speech, the far end's voice reaching
the microphone through a 60 ms echo path with RT60 0.3 s (direct path 0.5), white noise
30 dB under the echo. Figures per configuration:

- ``erle_db``: echo return loss enhancement while only the far end talks, after 2 s of
  convergence, with noise suppression left out of the pipeline (so the figure is the
  echo canceller's, bounded by the room's 30 dB noise floor; gain included);
- ``erle_ns_db``: the same with the configuration's noise suppression (the pipeline as
  the device runs it);
- ``double_talk_cut_20db``: in double talk at equal near-end and echo levels, the
  share of the near end's talking frames (the near end within 6 dB of its average
  level, the far end active) that come out more than 20 dB below the near end's own
  level; ``double_talk_cut_20db_tails`` counts quieter frames too (down to 20 dB
  under the average: the ends of syllables, which the echo suppressor cuts more);
- ``near_corr`` (and ``raw_near_corr``, the microphone's): correlation of the output
  with the clean near-end speech over the double-talk part;
- ``cpu_share``: CPU time per 10 ms frame over 10 ms (one core).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from alo_edge.media.processing import EchoReference, MicPipeline, ProcessingSettings
from alo_edge.tools import room

CONVERGENCE_SECONDS = 2.0
#: The near end starts talking this far into the double-talk run (the canceller has converged).
NEAR_STARTS_SECONDS = 4.0
NOISE_BELOW_ECHO_DB = 30.0
ECHO_LEVEL_DBFS = -20.0
#: The writer hands the reference 20 ms at a time, as the ALSA speaker does.
CHUNK = 2 * room.FRAME
#: A frame of a signal counts as active above this fraction of its loudest frame (-30 dB).
ACTIVE_FRACTION = 1e-3
MAX_LAG = room.RATE * 40 // 1000
#: Near-end frames counted as talking: within this many dB of the near end's average level.
TALKING_DB = 6.0
TAILS_DB = 20.0

CONFIGURATIONS: dict[str, ProcessingSettings] = {
    "default": ProcessingSettings(),
    "half_duplex": ProcessingSettings(half_duplex=True),
    "off": ProcessingSettings(echo_cancellation=False, noise_suppression=False, auto_gain=False),
}


@dataclasses.dataclass
class Scene:
    """One run's signals at the microphone, float full scale 1.0."""

    far: np.ndarray  # what the speaker plays (the reference)
    echo: np.ndarray
    near: np.ndarray  # the clean near-end speech at the microphone
    noise: np.ndarray

    @property
    def microphone(self) -> np.ndarray:
        mixed: np.ndarray = self.echo + self.near + self.noise
        return mixed


def active(samples: np.ndarray) -> np.ndarray:
    """Per 10 ms frame: is ``samples`` active (within 30 dB of its loudest frame)."""
    powers = room.frame_powers(samples)
    flags: np.ndarray = powers > powers.max() * ACTIVE_FRACTION
    return flags


def scale_to(samples: np.ndarray, dbfs: float, reference: np.ndarray) -> np.ndarray:
    """``samples`` scaled so ``reference``'s active frames average ``dbfs``."""
    powers = room.frame_powers(reference)
    level = float(powers[active(reference)].mean())
    scaled: np.ndarray = samples * np.sqrt(10 ** (dbfs / 10) / level)
    return scaled


def make_scenes(delay_ms: float, seed: int = 1) -> tuple[Scene, Scene]:
    """(far end alone, double talk) in the same room."""
    far = room.talk(room.FAR_SENTENCES, "en")
    near = room.talk(room.NEAR_SENTENCES, "en-us+f3")
    impulse = room.room_impulse(delay_ms)
    echo = room.apply(impulse, far)
    gain = scale_to(np.ones(1), ECHO_LEVEL_DBFS, echo)[0]
    far, echo = far * gain, echo * gain
    rng = np.random.default_rng(seed)
    noise_power = 10 ** ((ECHO_LEVEL_DBFS - NOISE_BELOW_ECHO_DB) / 10)
    noise = rng.standard_normal(len(far)) * np.sqrt(noise_power)
    alone = Scene(far, echo, np.zeros(len(far)), noise)
    start = int(NEAR_STARTS_SECONDS * room.RATE)
    placed = np.zeros(len(far))
    placed[start : start + len(near)] = near[: len(far) - start]
    placed = scale_to(placed, ECHO_LEVEL_DBFS, placed)  # equal levels: the near end as loud
    return alone, Scene(far, echo, placed, noise)


def run_pipeline(settings: ProcessingSettings, scene: Scene) -> tuple[np.ndarray, float]:
    """The microphone pipeline's output for ``scene``, and its CPU share of one core."""
    frames = [0]
    reference = EchoReference(settings.rate, settings.channels)
    pipeline = MicPipeline(settings, reference, clock=lambda: frames[0] * 0.01)
    mic = room.to_int16(scene.microphone)
    far = room.to_int16(scene.far)
    length = len(mic) // CHUNK * CHUNK
    out = np.zeros(length, dtype=np.int16)
    started = time.process_time()
    for start in range(0, length, CHUNK):
        reference.feed(far[start : start + CHUNK])  # the speaker's writer, then the capture
        out[start : start + CHUNK] = pipeline.process(mic[start : start + CHUNK])
        frames[0] += CHUNK // room.FRAME
    cpu = time.process_time() - started
    return out.astype(np.float64) / 32768.0, cpu / (length / room.FRAME) / 0.01


def erle_db(scene: Scene, out: np.ndarray) -> float:
    """Echo return loss enhancement over far-end-only frames after convergence."""
    mic = room.frame_powers(scene.microphone[: len(out)])
    output = room.frame_powers(out)
    chosen = active(scene.echo[: len(out)])
    chosen[: int(CONVERGENCE_SECONDS * 100)] = False
    floor = 1 / 32768.0**2 / 12  # int16 quantisation: a digital zero is not infinity
    return round(10 * float(np.log10(mic[chosen].sum() / max(output[chosen].sum(), floor))), 1)


def best_lag(clean: np.ndarray, out: np.ndarray) -> int:
    """The delay (samples, 0..40 ms) the pipeline put between ``clean`` and ``out``."""
    scores = [float(np.dot(clean[: len(clean) - lag], out[lag:])) for lag in range(0, MAX_LAG, 8)]
    coarse = int(np.argmax(np.abs(scores))) * 8
    fine = range(max(coarse - 8, 0), coarse + 9)
    return max(fine, key=lambda lag: abs(float(np.dot(clean[: len(clean) - lag], out[lag:]))))


def correlation(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.corrcoef(a, b)[0, 1])


def double_talk(scene: Scene, out: np.ndarray) -> dict[str, float]:
    """Near-end frames cut by more than 20 dB, and correlation with the clean near end."""
    start = int(NEAR_STARTS_SECONDS * room.RATE)
    clean = scene.near[start : len(out)]
    mic = scene.microphone[start : len(out)]
    lag = best_lag(clean, out[start:])
    shifted = out[start + lag :]
    clean_aligned = clean[: len(shifted)]
    near_frames = room.frame_powers(clean_aligned)
    out_frames = room.frame_powers(shifted)
    echo_frames = active(scene.echo[start : start + len(clean_aligned)])
    average = float(near_frames[active(clean_aligned)].mean())
    floor = 1e-12
    cut = 10 * np.log10(np.maximum(near_frames, floor) / np.maximum(out_frames, floor))

    def cut_share(within_db: float) -> float:
        talking = (near_frames > average * 10 ** (-within_db / 10)) & echo_frames
        return round(float(np.mean(cut[talking] > 20.0)), 3)

    return {
        "double_talk_cut_20db": cut_share(TALKING_DB),
        "double_talk_cut_20db_tails": cut_share(TAILS_DB),
        "near_corr": round(correlation(clean_aligned, shifted), 3),
        "raw_near_corr": round(correlation(clean, mic), 3),
    }


def measure(settings: ProcessingSettings, alone: Scene, both: Scene) -> dict[str, Any]:
    """Every figure for one configuration."""
    without_ns = dataclasses.replace(settings, noise_suppression=False)
    out_alone, _ = run_pipeline(without_ns, alone)
    out_alone_ns, cpu_alone = run_pipeline(settings, alone)
    out_both, cpu_both = run_pipeline(settings, both)
    return {
        "erle_db": erle_db(alone, out_alone),
        "erle_ns_db": erle_db(alone, out_alone_ns),
        **double_talk(both, out_both),
        "cpu_share": round((cpu_alone + cpu_both) / 2, 4),
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="scripts/bench aec", description=__doc__.split("\n")[0])
    parser.add_argument("--delay-ms", type=float, default=60.0, help="echo path delay (20-250)")
    args = parser.parse_args(argv)
    try:
        alone, both = make_scenes(args.delay_ms)
    except room.SpeechUnavailable as exc:
        print(f"bench aec: {exc}", file=sys.stderr)
        return 1
    result: dict[str, Any] = {
        name: measure(settings, alone, both) for name, settings in CONFIGURATIONS.items()
    }
    result["room"] = {
        "echo_delay_ms": args.delay_ms,
        "rt60_s": 0.3,
        "echo_dbfs": ECHO_LEVEL_DBFS,
        "noise_below_echo_db": NOISE_BELOW_ECHO_DB,
        "seconds": round(len(alone.far) / room.RATE, 1),
    }
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
