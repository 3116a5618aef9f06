"""``alo-edge selftest`` against a working, a silent and a disconnected speaker and microphone.

The command runs as a process with HOME pointing at an ``.asoundrc`` of ALSA ``type
file`` devices; the room (tests/integration/room_rig.py) carries what the speaker
plays to the microphone, or does not (a silent speaker), or the microphone reads
``/dev/zero`` (a silent microphone), or a PCM is not defined at all (unplugged).
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import STEP, alo_edge_command, write_toml
from tests.integration.room_rig import LiveRoom, write_asoundrc

pytestmark = pytest.mark.integration

AUDIO = {
    "source": "alsa",
    "device": "room_mic",
    "playback": True,
    "playback_device": "room_speaker",
}


def selftest(
    home: Path, audio: dict[str, Any], *json_flag: str
) -> subprocess.CompletedProcess[str]:
    config = write_toml(
        home / "door.toml",
        {
            "device": {"user_id": "door-1"},
            "alo": {"channel": "door", "url": "http://127.0.0.1:9/whip/door"},
            "audio": audio,
        },
    )
    return subprocess.run(
        [*alo_edge_command(), "selftest", "-c", str(config), *json_flag],
        env={**os.environ, "HOME": str(home)},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=3 * STEP,
        check=False,
    )


@pytest.fixture
def home(tmp_path: Path) -> Path:
    path = tmp_path / "home"
    path.mkdir()
    return path


def test_a_working_speaker_and_microphone_pass_with_the_rooms_coupling(home: Path) -> None:
    with LiveRoom(home, coupling=0.3) as live:
        write_asoundrc(home, mic=str(live.mic_fifo), speaker=str(live.speaker_file))
        done = selftest(home, AUDIO, "--json")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert (result["passed"], result["speaker"], result["microphone"]) == (True, "ok", "ok")
    # The room's impulse response has unit energy: 0.3 of it is 10.5 dB down.
    assert result["couplingDb"] == pytest.approx(-10.5, abs=3), result
    assert result["noiseDbfs"] == pytest.approx(-60, abs=3), result
    assert 60 <= result["echoDelayMs"] <= 400, result  # the 60 ms path plus the buffers


def test_a_speaker_the_microphone_does_not_hear_is_silent(home: Path) -> None:
    with LiveRoom(home, coupling=0.0) as live:
        write_asoundrc(home, mic=str(live.mic_fifo), speaker=str(live.speaker_file))
        done = selftest(home, AUDIO)
    assert done.returncode == 1, done.stderr
    assert "speaker     silent" in done.stdout
    assert "microphone  ok" in done.stdout
    assert "FAIL: the microphone did not hear the sweep" in done.stdout


def test_a_microphone_that_records_digital_silence_is_silent(home: Path) -> None:
    write_asoundrc(home, mic="/dev/zero", speaker=str(home / "speaker.raw"))
    done = selftest(home, AUDIO, "--json")
    assert done.returncode == 1, done.stderr
    result = json.loads(done.stdout)
    assert (result["microphone"], result["speaker"]) == ("silent", "untested"), result
    assert (home / "speaker.raw").stat().st_size > 48_000  # the sweep was played all the same


def test_an_unplugged_speaker_is_unavailable_with_alsas_reason(home: Path) -> None:
    with LiveRoom(home, coupling=0.3) as live:
        write_asoundrc(home, mic=str(live.mic_fifo), speaker=None)
        done = selftest(home, AUDIO, "--json")
    assert done.returncode == 1, done.stderr
    result = json.loads(done.stdout)
    assert (result["speaker"], result["microphone"]) == ("unavailable", "ok"), result
    assert "ALSA speaker 'room_speaker' cannot be opened" in result["message"]


def test_an_unplugged_microphone_is_unavailable_and_the_speaker_untested(home: Path) -> None:
    write_asoundrc(home, mic=None, speaker=str(home / "speaker.raw"))
    done = selftest(home, AUDIO, "--json")
    assert done.returncode == 1, done.stderr
    result = json.loads(done.stdout)
    assert (result["microphone"], result["speaker"]) == ("unavailable", "untested"), result
    assert "ALSA microphone 'room_mic' cannot be opened" in result["message"]


def test_a_device_without_a_speaker_has_nothing_to_test(home: Path) -> None:
    done = selftest(home, {"source": "alsa", "device": "room_mic"})
    assert done.returncode == 78
    assert "audio.playback" in done.stderr
