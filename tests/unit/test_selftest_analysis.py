"""The self-test's judgement on recordings made of numbers: what works, what is silent."""

from __future__ import annotations

import numpy as np
import pytest

from alo_edge.media.selftest import (
    SelfTestResult,
    analyse,
    sweep,
    with_open_errors,
)

RATE = 48_000


def recording(
    coupling: float, *, noise_rms: float = 30.0, delay_ms: int = 120
) -> tuple[np.ndarray, np.ndarray]:
    """(microphone, reference): 0.5 s of room, the sweep, 0.7 s of tail, as the pipeline records."""
    tone = sweep(RATE)
    reference = np.concatenate(
        [np.zeros(RATE // 2, dtype=np.int16), tone, np.zeros(RATE * 7 // 10, dtype=np.int16)]
    )
    delay = RATE * delay_ms // 1000
    echo = np.zeros(len(reference))
    echo[delay:] = reference[:-delay] * coupling
    room = np.random.default_rng(1).standard_normal(len(reference)) * noise_rms
    microphone = np.clip(echo + room, -32768, 32767).astype(np.int16)
    return microphone, reference


def test_a_heard_sweep_passes_with_its_coupling_and_delay() -> None:
    microphone, reference = recording(0.1)  # -20 dB
    result = analyse(microphone, reference, rate=RATE, at=1_700_000_000.0)
    assert result.passed
    assert result.coupling_db == pytest.approx(-20.0, abs=0.5)
    assert result.echo_delay_ms == pytest.approx(120.0, abs=1)
    assert result.noise_dbfs == pytest.approx(20 * np.log10(30 / 32768), abs=0.5)
    shown = result.to_dict()
    assert shown["passed"] is True
    assert shown["at"] == "2023-11-14T22:13:20+00:00"


def test_a_sweep_under_the_room_noise_means_a_silent_speaker() -> None:
    microphone, reference = recording(0.0)
    result = analyse(microphone, reference, rate=RATE)
    assert (result.speaker, result.microphone, result.passed) == ("silent", "ok", False)
    assert "did not hear the sweep" in result.message


def test_digital_silence_from_the_microphone_is_a_silent_microphone() -> None:
    _, reference = recording(0.1)
    result = analyse(np.zeros_like(reference), reference, rate=RATE)
    assert (result.microphone, result.speaker) == ("silent", "untested")


def test_no_audio_from_the_microphone_is_an_unavailable_one() -> None:
    empty = np.zeros(0, dtype=np.int16)
    assert analyse(empty, empty, rate=RATE).microphone == "unavailable"


def test_nothing_reaching_the_speaker_is_an_unavailable_speaker() -> None:
    microphone, reference = recording(0.1)
    result = analyse(microphone, np.zeros_like(reference), rate=RATE)
    assert (result.speaker, result.microphone) == ("unavailable", "ok")


def test_a_device_that_would_not_open_names_the_reason() -> None:
    heard = SelfTestResult("ok", "ok", "fine")
    assert with_open_errors(heard, microphone=None, speaker=None) is heard
    no_mic = with_open_errors(heard, microphone="no mic", speaker=None)
    assert (no_mic.microphone, no_mic.speaker, no_mic.message) == (
        "unavailable",
        "untested",
        "no mic",
    )
    neither = with_open_errors(heard, microphone="no mic", speaker="no speaker")
    assert (neither.speaker, neither.message) == ("unavailable", "no mic; no speaker")
    no_speaker = with_open_errors(heard, microphone=None, speaker="no speaker")
    assert (no_speaker.speaker, no_speaker.microphone) == ("unavailable", "ok")


def test_the_sweep_is_faded_and_under_full_scale() -> None:
    tone = sweep(RATE, channels=2)
    assert len(tone) == 2 * RATE
    assert abs(int(tone[0])) < 100
    assert abs(int(tone[-1])) < 100
    assert np.abs(tone).max() < 0.4 * 32768
