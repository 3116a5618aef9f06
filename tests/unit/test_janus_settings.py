"""Janus settings, the access answer for Janus, and the room events AloVideo fires."""

from __future__ import annotations

import json
from typing import Any

import av
import pytest

from alo_edge.api import AloVideo, VideoUser
from alo_edge.config import config_from_dict
from alo_edge.errors import ConfigError, SignallingError
from alo_edge.events import Event
from alo_edge.media.synthetic import SyntheticAudioSource, ToneTrack
from alo_edge.transport.access import parse_access_answer
from alo_edge.transport.base import Access
from alo_edge.transport.room import Participant
from tests.fakes import FakeClock, InMemoryConnection, InMemoryTransport, StateRecorder


def janus_config(**alo: Any) -> dict[str, Any]:
    settings = {"transport": "janus", "url": "ws://127.0.0.2:8188", "channel": "1234", **alo}
    return {"device": {"user_id": "door-1", "name": "Front door"}, "alo": settings}


def error_for(document: dict[str, Any]) -> ConfigError:
    with pytest.raises(ConfigError) as caught:
        config_from_dict(document)
    return caught.value


# --- configuration ---------------------------------------------------------------------------


def test_the_room_is_the_channel_when_it_is_a_number_unless_set() -> None:
    assert config_from_dict(janus_config()).alo.janus_room == 1234
    assert config_from_dict(janus_config(room=77)).alo.janus_room == 77
    assert config_from_dict(janus_config(channel="front", room=5)).alo.janus_room == 5


def test_a_janus_device_on_a_named_channel_needs_a_room() -> None:
    error = error_for(janus_config(channel="front"))
    assert error.key == "alo.room"
    assert "'front' is not a Janus room number" in str(error)
    assert error_for(janus_config(room=0)).key == "alo.room"


def test_janus_speaks_websocket_and_whip_speaks_http() -> None:
    assert "ws:// or wss://" in str(error_for(janus_config(url="http://127.0.0.2:8088/janus")))
    whip = {"device": {"user_id": "d"}, "alo": {"url": "ws://sfu:8188", "channel": "front"}}
    assert "http:// or https://" in str(error_for(whip))


def test_talkback_can_be_limited_to_named_participants() -> None:
    document = janus_config()
    document["audio"] = {"playback": True, "talkback_from": ["Operator", "Guard"]}
    assert config_from_dict(document).audio.talkback_from == ("Operator", "Guard")
    assert config_from_dict(janus_config()).audio.talkback_from == ()


# --- the access answer -----------------------------------------------------------------------


def answer(**fields: Any) -> bytes:
    body = {"transport": "janus", "url": "wss://sfu.example.net/janus", "token": "t", **fields}
    return json.dumps({k: v for k, v in body.items() if v is not ...}).encode()


def test_an_access_answer_can_send_the_device_to_a_janus_room() -> None:
    access = parse_access_answer(answer(room=4321), default_token="user")
    assert access == Access("janus", "wss://sfu.example.net/janus", "t", (), 4321)
    assert parse_access_answer(answer(), default_token="user").room is None


@pytest.mark.parametrize(
    ("payload", "names"),
    [
        (answer(url="https://sfu.example.net/janus"), "'url'"),
        (answer(room="1234"), "'room'"),
        (answer(room=True), "'room'"),
        (answer(room=-1), "'room'"),
        (answer(transport="sip"), "'whip' or 'janus'"),
    ],
)
def test_a_bad_janus_access_answer_names_the_field(payload: bytes, names: str) -> None:
    with pytest.raises(SignallingError, match=names):
        parse_access_answer(payload, default_token="user")


# --- the room's events on AloVideo -----------------------------------------------------------


class RecordingSink:
    def __init__(self) -> None:
        self.frames: list[av.AudioFrame] = []

    def write(self, frame: av.AudioFrame) -> None:
        self.frames.append(frame)

    def stop(self) -> None:
        return None


def collect(video: AloVideo, name: str) -> list[dict[str, Any]]:
    seen: list[dict[str, Any]] = []

    def record(event: Event) -> None:
        seen.append(dict(event.detail))

    video.events.add_event_listener(name, record)
    return seen


OWN = Participant("11", "door-1", "Front door", True, True, True, "11")
OPERATOR = Participant("22", "Operator", "Operator", True, False, False, "22")


async def test_participants_and_local_mutes_reach_the_events() -> None:
    whip = {"device": {"user_id": "door-1", "name": "Front door"},
            "alo": {"url": "http://127.0.0.1:9/whip", "channel": "front"}}  # fmt: skip
    video = AloVideo(
        VideoUser("door-1", "Front door"),
        "token",
        config=config_from_dict(whip),
        audio_sink=RecordingSink(),
        transports={"whip": InMemoryTransport()},
    )
    participants = collect(video, "onParticipantsChanged")
    streams = collect(video, "onPublishedStreamChange")
    voice = ToneTrack(1000.0)
    try:
        video.room_listener.participants_changed([OWN, OPERATOR])
        video.room_listener.remote_stream_changed(OPERATOR)
        video.room_listener.remote_audio("22", voice)
        await video.set_participant_muted("22", True)

        assert [p["isMutedLocally"] for p in participants[-1]["participants"]] == [False, True]
        assert participants[0]["participants"][1] == {
            "id": "22",
            "userId": "Operator",
            "name": "Operator",
            "isPublishingAudio": True,
            "isPublishingVideo": False,
            "isCurrentUser": False,
            "streamId": "22",
            "isMutedLocally": False,
        }
        assert streams == [
            {
                "user": {"id": "Operator", "name": "Operator"},
                "participantId": "22",
                "streamId": "22",
                "isPublishingVideo": False,
                "isPublishingAudio": True,
                "isCurrentUser": False,
            }
        ]
        assert [p.id for p in video.participants] == ["11", "22"]
        # The mute outlives the participant's connection: its next voice starts muted.
        video.room_listener.remote_audio("22", None)
        video.room_listener.participants_changed([OWN, OPERATOR])
        assert participants[-1]["participants"][1]["isMutedLocally"] is True
        video.room_listener.participants_changed([])
        assert participants[-1]["participants"] == []
    finally:
        await video.disconnect()
        voice.stop()


async def test_the_audio_mode_and_each_mute_show_in_the_published_stream_events() -> None:
    document = {
        "device": {"user_id": "door-1", "name": "Front door"},
        "alo": {"url": "http://127.0.0.1:9/whip", "channel": "front"},
        "audio": {"mode": "muted"},
    }
    clock = FakeClock()
    audio = SyntheticAudioSource()
    video = AloVideo(
        VideoUser("door-1", "Front door"),
        "token",
        config=config_from_dict(document),
        audio_source=audio,
        transports={"whip": InMemoryTransport(InMemoryConnection())},
        clock=clock,
    )
    streams = collect(video, "onPublishedStreamChange")
    recorder = StateRecorder(video)
    try:
        await video.set_muted(True)  # what app.py does for "muted" and "ptt"
        assert streams == []  # not connected: nothing is published yet
        await video.connect("front")
        await recorder.wait_for_state("CONNECTED")
        await video.set_muted(False)  # a push-to-talk press
        await video.set_muted(True)  # and its release
        assert [(s["audioMode"], s["isAudioMuted"]) for s in streams] == [
            ("muted", True),
            ("muted", False),
            ("muted", True),
        ]
    finally:
        await video.disconnect()
        audio.stop()
