"""The device in a real Janus VideoRoom (Debian's janus 1.1.2), in a private namespace.

The device is the real service (``alo-edge run``) or, where a test needs the API
beyond it (local mutes), the real composition root driven by signals
(``tests/janus/device.py``). The far ends are the test's own Janus client
(``tests/janus/peer.py``, Janus's HTTP API, its own aiortc peers). Every wait is
bounded; every process is killed by PID when the test ends.
"""

from __future__ import annotations

import re
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.helpers import STEP, Event, Proc, disconnect_is, label, session_events, state_is
from tests.janus.conftest import MEASURED
from tests.janus.rig import ROOM, SESSION_TIMEOUT, JanusRig, device_config
from tests.media_support import dominant_frequency, make_h264, write_asoundrc

RATE = 48_000
DEVICE = "Front door"


def event_is(name: str) -> Callable[[Event], bool]:
    return lambda event: event.get("event") == name


def participants_are(expected: Callable[[list[dict[str, Any]]], bool]) -> Callable[[Event], bool]:
    def match(event: Event) -> bool:
        return event.get("event") == "onParticipantsChanged" and expected(
            event["detail"]["participants"]
        )

    return match


def names(participants: list[dict[str, Any]]) -> list[str]:
    return [p["name"] for p in participants]


def start_connected_device(rig: JanusRig, tmp_path: Path, **settings: Any) -> Proc:
    config = device_config(tmp_path / "device.toml", tmp_path / "token", **settings)
    device = rig.device(config)
    device.wait_for(state_is("CONNECTED"), what="CONNECTED")
    return device


def subscriber(rig: JanusRig, seconds: float, name: str = "subscriber") -> Proc:
    return rig.peer("subscribe", "--display", DEVICE, "--seconds", str(seconds), name=name)


# --- publishing --------------------------------------------------------------------------


def test_a_subscriber_through_janus_decodes_the_device_at_30_fps_with_its_audio(
    rig: JanusRig, tmp_path: Path
) -> None:
    device = start_connected_device(rig, tmp_path)
    device.wait_for(
        participants_are(lambda ps: names(ps) == [DEVICE] and ps[0]["isCurrentUser"]),
        what="the device alone in the room",
    )
    viewer = subscriber(rig, seconds=4.0)
    viewer.wait_for(event_is("first_frame"), what="the first decoded picture")
    stats = viewer.wait_for(event_is("stats"), timeout=STEP, what="the subscriber's stats")

    MEASURED["subscriber through Janus"] = (
        f"{stats['video_fps']} fps video {stats['size']}, {stats['audio_fps']} audio frames/s "
        f"at {stats['audio_frequency']} Hz"
    )
    assert stats["size"] == [320, 240]
    assert stats["video_fps"] >= 25, stats
    assert stats["audio_fps"] >= 45, stats  # 20 ms Opus frames: 50 a second
    assert stats["audio_frequency"] == pytest.approx(1000, abs=20), stats
    assert device.running


def test_janus_error_replies_become_errors_with_janus_code_and_text(
    rig: JanusRig, tmp_path: Path
) -> None:
    config = device_config(tmp_path / "device.toml", tmp_path / "token")
    config.write_text(
        config.read_text().replace('channel = "1234"', 'channel = "front"\nroom = 999'),
        encoding="utf-8",
    )
    device = rig.device(config)
    error = device.wait_for(state_is("ERROR"), what="ERROR for a room Janus does not have")
    # The VideoRoom's own code and text: 426 "No such room".
    assert re.search(r"error 426: No such room \(999\)", error["detail"]["message"]), error
    device.wait_for(state_is("RECONNECT_PENDING"), what="the reconnect countdown")


# --- participants and talk-back ------------------------------------------------------------


def speaker_samples(path: Path) -> np.ndarray:
    return np.frombuffer(path.read_bytes() if path.exists() else b"", dtype="<i2")


def wait_for_tone(path: Path, after: int, within: float = STEP) -> np.ndarray:
    """Half a second of a loud 1 kHz tone written to the speaker file past sample ``after``."""
    deadline = time.monotonic() + within
    while True:
        written = speaker_samples(path)[after:]
        if len(written) >= RATE // 2:
            tail = written[-RATE // 2 :]
            if np.abs(tail).max() > 1000 and abs(dominant_frequency(tail, RATE) - 1000) < 20:
                return tail
        if time.monotonic() > deadline:
            peak = int(np.abs(written).max()) if len(written) else 0
            raise AssertionError(f"no 1 kHz tone in {len(written)} samples (peak {peak})")
        time.sleep(0.1)


def test_a_second_publisher_joins_talks_through_the_speaker_is_muted_locally_and_leaves(
    rig: JanusRig, tmp_path: Path
) -> None:
    home = tmp_path / "home"
    home.mkdir()
    speaker = home / "speaker.raw"
    write_asoundrc(home, capture={}, playback={"alo_speaker": speaker})
    config = device_config(
        tmp_path / "device.toml",
        tmp_path / "token",
        audio={"source": "synthetic", "playback": True, "playback_device": "alo_speaker"},
    )
    device = rig.driven_device(config, env={"HOME": str(home)})
    device.wait_for(state_is("CONNECTED"), what="CONNECTED")
    alone = device.wait_for(participants_are(lambda ps: len(ps) == 1), what="the device alone")
    (own,) = alone["detail"]["participants"]
    assert own == {
        "id": own["id"],
        "userId": "door-1",
        "name": DEVICE,
        "isPublishingAudio": True,
        "isPublishingVideo": True,
        "isCurrentUser": True,
        "streamId": own["id"],
        "isMutedLocally": False,
    }

    operator = rig.peer("publish", "--display", "Operator", "--tone", "1000", name="operator")
    operator_id = str(operator.wait_for(event_is("published"), what="published")["id"])
    stream = device.wait_for(
        lambda e: (
            e.get("event") == "onPublishedStreamChange"
            and e["detail"].get("participantId") == operator_id
        ),
        what="the operator's stream",
    )
    assert stream["detail"] == {
        "user": {"id": "Operator", "name": "Operator"},
        "participantId": operator_id,
        "streamId": operator_id,
        "isPublishingVideo": False,
        "isPublishingAudio": True,
        "isCurrentUser": False,
    }
    both = device.wait_for(participants_are(lambda ps: len(ps) == 2), what="two participants")
    assert both["detail"]["participants"] == [
        own,
        {
            "id": operator_id,
            "userId": "Operator",
            "name": "Operator",
            "isPublishingAudio": True,
            "isPublishingVideo": False,
            "isCurrentUser": False,
            "streamId": operator_id,
            "isMutedLocally": False,
        },
    ]

    heard = wait_for_tone(speaker, after=0)
    MEASURED["talk-back tone in the ALSA file"] = (
        f"{dominant_frequency(heard, RATE):.0f} Hz, peak {int(np.abs(heard).max())}"
    )

    device.signal(signal.SIGUSR1)  # mute every remote participant on this speaker
    device.wait_for(
        participants_are(lambda ps: ps[1]["isMutedLocally"] is True), what="isMutedLocally"
    )
    time.sleep(0.1)  # the 20 ms mixing tick and the sink's queue
    muted_from = len(speaker_samples(speaker))
    time.sleep(1.0)
    quiet = speaker_samples(speaker)[muted_from:]
    assert len(quiet) >= RATE // 2, "the speaker must keep playing (silence) while muted"
    assert int(np.abs(quiet).max()) == 0, "a locally muted participant must be silent"

    device.signal(signal.SIGUSR2)  # and back: the mute, not the link, silenced it
    device.wait_for(participants_are(lambda ps: ps[1]["isMutedLocally"] is False), what="unmuted")
    wait_for_tone(speaker, after=len(speaker_samples(speaker)))
    MEASURED["local mute"] = f"{len(quiet) / RATE:.2f} s written while muted, all zero"

    operator.signal(signal.SIGTERM)
    operator.wait_for(event_is("left"), what="left")
    ended = device.wait_for(
        lambda e: (
            e.get("event") == "onPublishedStreamChange"
            and e["detail"].get("participantId") == operator_id
        ),
        what="the operator's stream ending",
    )
    assert ended["detail"]["isPublishingAudio"] is False
    assert ended["detail"]["streamId"] is None
    device.wait_for(participants_are(lambda ps: ps == [own]), what="the device alone again")
    assert device.running


def test_joining_a_room_with_publishers_lists_them_and_plays_only_the_named_ones(
    rig: JanusRig, tmp_path: Path
) -> None:
    operator = rig.peer("publish", "--display", "Operator", "--tone", "1000", name="operator")
    guard = rig.peer("publish", "--display", "Guard", "--tone", "2500", name="guard")
    operator.wait_for(event_is("published"), what="the operator publishing")
    guard.wait_for(event_is("published"), what="the guard publishing")
    home = tmp_path / "home"
    home.mkdir()
    speaker = home / "speaker.raw"
    write_asoundrc(home, capture={}, playback={"alo_speaker": speaker})
    config = device_config(
        tmp_path / "device.toml",
        tmp_path / "token",
        audio={
            "source": "none",
            "playback": True,
            "playback_device": "alo_speaker",
            "talkback_from": ["Operator"],
        },
    )
    device = rig.device(config, env={"HOME": str(home)})
    device.wait_for(state_is("CONNECTED"), what="CONNECTED")
    everyone = device.wait_for(participants_are(lambda ps: len(ps) == 3), what="three")
    participants = everyone["detail"]["participants"]
    assert participants[0]["isCurrentUser"]
    assert participants[0]["isPublishingAudio"] is False  # audio.source = "none"
    assert sorted(names(participants[1:])) == ["Guard", "Operator"]

    heard = wait_for_tone(speaker, after=0)
    spectrum = np.abs(np.fft.rfft(heard.astype(np.float64) * np.hanning(len(heard))))
    at = lambda hz: spectrum[round(hz * len(heard) / RATE)]  # noqa: E731
    assert at(2500) < at(1000) / 100, "the guard is not in audio.talkback_from"


# --- passthrough and keyframes ---------------------------------------------------------


def test_a_late_subscriber_sees_passthrough_video_within_300_ms(
    rig: JanusRig, tmp_path: Path
) -> None:
    # An IDR every 10 s: without keyframe requests answered, a late subscriber would
    # wait up to that long for a picture it can decode.
    clip = make_h264(tmp_path / "door.h264", width=320, height=240, fps=30, frames=600, gop=300)
    start_connected_device(rig, tmp_path, video={"source": "file", "file": str(clip), "fps": 30})
    time.sleep(3.0)  # mid-GOP: the file's next IDR is ~7 s away
    viewer = subscriber(rig, seconds=2.0, name="late-subscriber")
    connected = viewer.wait_for(event_is("connected"), what="the media path")
    first = viewer.wait_for(event_is("first_frame"), what="the first decoded picture")
    stats = viewer.wait_for(event_is("stats"), what="stats")

    MEASURED["late join, first decoded frame (passthrough)"] = (
        f"{first['since_connected'] * 1000:.0f} ms after the media path came up, "
        f"{first['since_join'] * 1000:.0f} ms after the join request "
        f"(media path up {connected['since_join'] * 1000:.0f} ms after it); "
        f"then {stats['video_fps']} fps"
    )
    assert first["since_connected"] <= 0.300, first
    assert stats["video_fps"] >= 25, stats


# --- keep-alives and Janus going away ----------------------------------------------------


def test_keepalives_hold_an_idle_session_longer_than_the_session_timeout(
    rig: JanusRig, tmp_path: Path
) -> None:
    device = start_connected_device(rig, tmp_path)
    connected_at = len(device.events.snapshot())
    idle = SESSION_TIMEOUT + 4
    # The control: a session nobody keeps alive, idle as long, is expired by Janus.
    control = rig.peer("expire", "--idle", str(idle), name="control")
    created = control.wait_for(event_is("created"), what="the control session")
    after = control.wait_for(event_is("after_idle"), timeout=idle + STEP, what="the control")
    assert (after["janus"], after["code"]) == ("error", 458), after  # No such session

    changes = [e for e in device.events.snapshot()[connected_at:] if e["event"] in (
        "onConnectionChange", "onDisconnect")]  # fmt: skip
    assert changes == [], changes
    line = device.stderr.wait_line(lambda s: "keep-alive every" in s, timeout=1)
    assert line is not None
    session = re.search(r"Janus session (\d+)", line)
    assert session is not None
    janus_log = "\n".join(rig.janus.events.lines if rig.janus else [])
    assert f"Timeout expired for session {created['id']}" in janus_log
    assert f"Timeout expired for session {session.group(1)}" not in janus_log
    # Still in the room: a new subscriber finds the device and decodes it.
    viewer = subscriber(rig, seconds=1.0)
    viewer.wait_for(event_is("first_frame"), what="a picture after the idle time")
    MEASURED["idle session"] = (
        f"held {idle} s against a {SESSION_TIMEOUT} s session timeout "
        f"({line.split('(')[-1].rstrip(')')}); the control session expired"
    )


def test_killing_janus_gives_error_and_countdown_and_a_restart_reconnects_in_process(
    rig: JanusRig, tmp_path: Path
) -> None:
    device = start_connected_device(
        rig, tmp_path, reconnect={"initial_delay": 1.0, "max_delay": 2.0}
    )
    pid = device.pid
    mark = len(device.events.snapshot())
    killed_at = time.monotonic()
    rig.kill_janus()
    error = device.wait_for(state_is("ERROR"), what="ERROR")
    noticed = time.monotonic() - killed_at
    assert "Janus" in error["detail"]["message"], error
    device.wait_for(disconnect_is("ERROR"), what="onDisconnect ERROR")
    counting = device.wait_for(
        lambda e: state_is("RECONNECT_PENDING")(e) and e["detail"]["pendingRestartSeconds"] >= 2,
        what="a countdown from 2 s or more",
    )
    device.wait_for(
        lambda e: (
            state_is("RECONNECT_PENDING")(e)
            and e["detail"]["pendingRestartSeconds"] < counting["detail"]["pendingRestartSeconds"]
        ),
        what="the countdown ticking",
    )
    rig.start_janus()
    restarted_at = time.monotonic()
    device.wait_for(state_is("CONNECTED"), timeout=STEP, what="CONNECTED again")
    healed = time.monotonic() - restarted_at

    assert device.running
    assert device.pid == pid
    labels = [label(e) for e in session_events(device.events.snapshot()[mark:])]
    assert labels[:3] == [
        "onConnectionChange:ERROR",
        "onDisconnect:ERROR",
        "onConnectionChange:RECONNECT_PENDING",
    ], labels
    assert labels[-1] == "onConnectionChange:CONNECTED", labels
    assert set(labels[3:-1]) <= {
        "onConnectionChange:RECONNECT_PENDING",
        "onConnectionChange:ACQUIRING_ACCESS",
        "onConnectionChange:CONNECTING",
        "onConnectionChange:ERROR",
        "onDisconnect:ERROR",
    }, labels
    viewer = subscriber(rig, seconds=1.0)
    viewer.wait_for(event_is("first_frame"), what="a picture through the restarted Janus")
    MEASURED["Janus killed / restarted"] = (
        f"ERROR {noticed * 1000:.0f} ms after SIGKILL; CONNECTED {healed:.1f} s after the "
        f"restart (same PID {pid}, room {ROOM})"
    )


# --- bounds: a crowded room, a hung Janus ------------------------------------------------


def test_a_crowded_room_is_capped_and_sigterm_leaves_a_hung_janus_within_3_s(
    rig: JanusRig, tmp_path: Path
) -> None:
    voices = {"Operator": "1000", "Guard": "1500", "Porter": "2500"}
    peers = [
        rig.peer("publish", "--display", name, "--tone", hz, name=name.lower())
        for name, hz in voices.items()
    ]
    for peer in peers:
        peer.wait_for(event_is("published"), what=f"{peer.name} publishing")
    home = tmp_path / "home"
    home.mkdir()
    write_asoundrc(home, capture={}, playback={"alo_speaker": home / "speaker.raw"})
    config = device_config(
        tmp_path / "device.toml",
        tmp_path / "token",
        audio={"source": "synthetic", "playback": True, "playback_device": "alo_speaker"},
    )
    config.write_text(
        config.read_text().replace('channel = "1234"', 'channel = "1234"\nmax_participants = 2'),
        encoding="utf-8",
    )
    device = rig.device(config, env={"HOME": str(home)})
    device.wait_for(state_is("CONNECTED"), what="CONNECTED")
    listed = device.wait_for(participants_are(lambda ps: len(ps) == 3), what="three listed")
    assert listed["detail"]["participants"][0]["isCurrentUser"]
    crowd = device.stderr.wait_line(lambda line: "alo.max_participants" in line, STEP)
    assert crowd is not None, device.stderr.tail()
    assert "ignoring the rest" in crowd

    def subscribed() -> list[str]:
        lines = device.stderr.lines
        return [line for line in lines if "talk-back: subscribed to the audio" in line]

    deadline = time.monotonic() + STEP
    while len(subscribed()) < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(0.5)  # a wrong third subscription would show by now (each takes ~50 ms)

    assert rig.janus is not None
    rig.janus.signal(signal.SIGSTOP)  # a hung Janus: the socket stays open, nothing answers
    started = time.monotonic()
    device.signal(signal.SIGTERM)
    code = device.wait(timeout=STEP)
    took = time.monotonic() - started

    assert len(subscribed()) == 2, subscribed()  # two voices of three: the cap
    assert code == 0, device.stderr.tail()
    assert took < 3.0, f"SIGTERM took {took:.2f} s against a hung Janus"
    MEASURED["hung Janus"] = (
        f"3 others in the room, max_participants 2: 2 listed and heard; SIGTERM with Janus "
        f"SIGSTOPped: exit 0 after {took:.2f} s"
    )
