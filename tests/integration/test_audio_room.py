"""The device's whole microphone pipeline in a simulated room, through real WebRTC talk-back.

An ``alo-edge run`` process plays the operator's voice (sent by an aiortc peer on the
lab's live view, relayed to the device over WHIP) on its ALSA speaker; the room
(tests/integration/room_rig.py) carries it to the ALSA microphone 60 ms later through
an RT60 0.3 s impulse response, with noise and, a few seconds in, a visitor talking.
The operator's peer records what the device sends back: that is what the operator
hears. Side by side: the default processing, half duplex, and processing off (where
the echo must come through, or the test proves nothing).
"""

from __future__ import annotations

import asyncio
import os
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from alo_edge.tools import room
from tests.helpers import (
    STEP,
    LabProcess,
    Processes,
    device_config,
    free_port,
    http_json,
    state_is,
    write_toml,
)
from tests.integration.room_rig import FarEnd, LiveRoom, write_asoundrc

pytestmark = pytest.mark.integration

CHANNEL = "door"
COUPLING = 0.3  # the speaker reaches the microphone 10.5 dB down (the impulse has unit energy)
FAR_ONLY_SECONDS = 5.0
#: The echo canceller's convergence, not measured.
CONVERGENCE_SECONDS = 2.5


def power_db(samples: Any) -> float:
    return room.level_db(samples) if len(samples) else -120.0


async def wait_until(predicate: Any, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout} s: {what}")
        await asyncio.sleep(0.1)


def metric_names(url: str) -> set[str]:
    with urllib.request.urlopen(f"{url}/metrics", timeout=5) as response:
        text = response.read().decode()
    return {line.split("{")[0].split(" ")[0] for line in text.splitlines() if line[:1] != "#"}


def ducked_share(live: LiveRoom, far: FarEnd, window: tuple[float, float]) -> float:
    """Of the 100 ms the operator heard while their voice had just played (within the
    last 0.3 s: inside the 0.5 s hang time, with room for the network), the share at
    least 20 dB under the visitor's voice at the microphone."""
    blocks = []
    at = window[0]
    while at + 0.1 <= window[1]:
        played = live.between(at - 0.35, at - 0.05)["played"]
        if len(played) and room.level_db(played) > -45:
            near = power_db(live.between(at - 0.1, at)["near"])
            if near > -50:  # the visitor is talking
                blocks.append(power_db(far.heard_between(at, at + 0.1)) < near - 20)
        at += 0.1
    assert len(blocks) >= 10, "too little double talk to judge"
    return sum(blocks) / len(blocks)


def start_room_device(
    procs: Processes,
    lab: LabProcess,
    tmp_path: Path,
    home: Path,
    audio: dict[str, Any],
    log: bool = False,
) -> tuple[Any, str]:
    token = tmp_path / "token"
    token.write_text(lab.mint("door-1") + "\n", encoding="utf-8")
    document = device_config(
        user_id="door-1",
        channel=CHANNEL,
        token_file=token,
        access_url=f"{lab.url}/v1/video/access",
    )
    document["video"] = {"source": "none"}
    document["audio"] = {
        "source": "alsa",
        "device": "room_mic",
        "playback": True,
        "playback_device": "room_speaker",
        **audio,
    }
    port = free_port()
    document["status"] = {"listen": f"127.0.0.1:{port}"}
    if log:
        document["log"] = {"level": "debug"}
    config = write_toml(tmp_path / "door.toml", document)
    env = {**os.environ, "HOME": str(home)}
    device = procs.cli("run", "-c", str(config), "--events", "-", name="door", env=env)
    return device, f"http://127.0.0.1:{port}"


@pytest.mark.parametrize(
    ("mode", "audio"),
    [
        ("default", {"selftest": True}),
        ("half_duplex", {"mode": "half_duplex", "selftest": False}),
        (
            "off",
            {
                "echo_cancellation": False,
                "noise_suppression": False,
                "auto_gain": False,
                "selftest": False,
            },
        ),
    ],
)
async def test_what_the_operator_hears_from_a_door_in_a_room(
    mode: str, audio: dict[str, Any], lab: LabProcess, procs: Processes, tmp_path: Path
) -> None:
    far_speech = room.talk(room.FAR_SENTENCES[:2], "en")
    near_speech = room.talk(room.NEAR_SENTENCES[:2], "en-us+f3") * COUPLING  # as loud as the echo
    home = tmp_path / "home"
    home.mkdir()
    with LiveRoom(home, coupling=COUPLING) as live:
        write_asoundrc(home, mic=str(live.mic_fifo), speaker=str(live.speaker_file))
        device, status_url = start_room_device(procs, lab, tmp_path, home, audio)
        await asyncio.to_thread(device.wait_for, state_is("CONNECTED"), 2 * STEP, "CONNECTED")
        if mode == "default":
            # The service tests its speaker and microphone once nobody talks: at start here.
            event = await asyncio.to_thread(
                device.wait_for, lambda e: e["event"] == "onAudioSelfTest", 3 * STEP, "self-test"
            )
            assert event["detail"]["passed"] is True, event
            assert event["detail"]["couplingDb"] == pytest.approx(-10.5, abs=4), event
        far = FarEnd(lab.url, CHANNEL)
        try:
            await far.connect()
            asked = time.monotonic()
            far.voice.speak(far_speech)
            far_start = await wait_until(
                lambda: live.speaker_active_since(asked), STEP, "the operator on the speaker"
            )
            await asyncio.sleep(FAR_ONLY_SECONDS - (time.monotonic() - far_start))
            near_start = time.monotonic()
            live.say(near_speech)
            during_far = await asyncio.to_thread(http_json, "GET", f"{status_url}/status")
            far_end = far_start + len(far_speech) / room.RATE
            near_end = near_start + len(near_speech) / room.RATE
            await asyncio.sleep(near_end + 0.5 - time.monotonic())
            after = await asyncio.to_thread(http_json, "GET", f"{status_url}/status")
            names = await asyncio.to_thread(metric_names, status_url)
        finally:
            await far.close()

    far_only = (far_start + CONVERGENCE_SECONDS, near_start)
    made = live.between(*far_only)
    heard = far.heard_between(*far_only)
    erle = power_db(made["mic"]) - power_db(heard)
    double_talk = (near_start + 0.5, far_end)
    near_in_double_talk = power_db(far.heard_between(*double_talk)) - power_db(
        live.between(*double_talk)["near"]
    )
    near_only = (far_end + 1.0, near_end)
    near_alone = power_db(far.heard_between(*near_only)) - power_db(
        live.between(*near_only)["near"]
    )
    figures = (
        f"{mode}: ERLE {erle:.1f} dB, near end in double talk {near_in_double_talk:.1f} dB, "
        f"alone {near_alone:.1f} dB"
    )
    print(figures)

    processing = after[1]["audioProcessing"]
    if mode == "default":
        assert erle >= 20, figures
        assert near_in_double_talk >= -10, figures  # the visitor is not cut off
        assert near_alone >= -8, figures
        assert processing["echoCancellation"] is True
        assert processing["echoReturnLossDb"] == pytest.approx(10.5, abs=4), processing
        assert processing["echoReturnLossEnhancementDb"] >= 15, processing
        assert after[1]["selfTest"]["passed"] is True
        assert {
            "alo_edge_echo_return_loss_enhancement_db",
            "alo_edge_audio_level_dbfs",
            "alo_edge_voice_probability",
            "alo_edge_selftest_passed",
        } <= names
    elif mode == "half_duplex":
        assert erle >= 40, figures  # ducked: the operator hears nothing while talking
        # ...not even the visitor, while the operator talks (the microphone reopens in
        # the operator's pauses longer than the hang time, which is right).
        assert ducked_share(live, far, double_talk) >= 0.9, figures
        assert near_alone >= -8, figures  # who is heard once the operator stops
        assert during_far[1]["audioProcessing"]["ducked"] is True
        assert after[1]["audioProcessing"]["ducked"] is False
    else:
        assert erle < 10, figures  # without processing the operator hears their own voice
        assert processing["echoCancellation"] is False
