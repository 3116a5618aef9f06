"""Button gestures and the commands they drive: pure timing, no sleeping.

The detector gets explicit times; the actions run against a real (never connected)
``AloVideo`` for mute and push-to-talk, and a recording session for the rest.
"""

from __future__ import annotations

from typing import Any

import pytest

from alo_edge.api import AloVideo, VideoUser
from alo_edge.config import config_from_dict
from alo_edge.events import Event, EventTarget
from alo_edge.panel.actions import (
    PANEL_ACTION_EVENT,
    Action,
    ButtonActions,
    ButtonMapping,
    Gesture,
    GestureDetector,
    GestureEvent,
    detector_for,
    starts_muted,
)

G = Gesture


def names(events: list[GestureEvent]) -> list[str]:
    return [e.gesture.value for e in events]


def detector(bounce: float = 0.05) -> GestureDetector:
    return GestureDetector(hold_seconds=2.0, long_hold_seconds=10.0, bounce_seconds=bounce)


# --- the detector -------------------------------------------------------------------


def test_a_short_press_is_a_press_on_release() -> None:
    d = detector()
    assert names(d.edge(True, 100.0)) == ["button_down"]
    assert d.next_deadline() == pytest.approx(102.0)
    released = d.edge(False, 100.3)
    assert names(released) == ["button_up", "press"]
    assert released[1].held == pytest.approx(0.3)
    assert d.next_deadline() is None


def test_hold_fires_at_hold_seconds_while_still_down_and_release_is_no_press() -> None:
    d = detector()
    d.edge(True, 0.0)
    assert d.advance(1.99) == []
    held = d.advance(2.5)
    assert names(held) == ["hold"]
    assert held[0].at == pytest.approx(2.0)  # when it was due, not when we looked
    assert held[0].held == pytest.approx(2.0)
    assert names(d.edge(False, 3.0)) == ["button_up"]


def test_long_hold_fires_after_hold_in_time_order() -> None:
    d = detector()
    d.edge(True, 0.0)
    fired = d.advance(12.0)  # a wedged loop catching up reports both, in order
    assert names(fired) == ["hold", "long_hold"]
    assert [e.at for e in fired] == [pytest.approx(2.0), pytest.approx(10.0)]
    assert d.next_deadline() is None
    assert names(d.edge(False, 12.5)) == ["button_up"]


def test_an_edge_first_fires_holds_that_were_due_before_it() -> None:
    d = detector()
    d.edge(True, 0.0)
    assert names(d.edge(False, 2.4)) == ["hold", "button_up"]


def test_contact_bounce_on_press_and_release_gives_one_press() -> None:
    d = detector(bounce=0.05)
    events = d.edge(True, 0.000)
    for i, level in enumerate([False, True, False, True]):
        events += d.edge(level, 0.001 * (i + 1))
    assert names(events) == ["button_down"]
    assert d.next_deadline() == pytest.approx(2.0)  # raw level agrees: no lock-out wake
    events = d.edge(False, 0.300)
    for i, level in enumerate([True, False, True, False]):
        events += d.edge(level, 0.300 + 0.002 * (i + 1))
    assert names(events) == ["button_up", "press"]
    assert d.advance(1.0) == []


def test_a_tap_shorter_than_the_bounce_time_is_not_lost() -> None:
    d = detector(bounce=0.05)
    assert names(d.edge(True, 0.0)) == ["button_down"]
    assert d.edge(False, 0.02) == []  # inside the lock-out: remembered, not taken yet
    assert d.next_deadline() == pytest.approx(0.05)
    released = d.advance(0.06)
    assert names(released) == ["button_up", "press"]
    assert released[0].at == pytest.approx(0.05)
    assert d.next_deadline() is None  # and no phantom hold two seconds later


def test_bounce_that_ends_in_the_same_level_changes_nothing() -> None:
    d = detector(bounce=0.05)
    d.edge(True, 0.0)
    d.edge(False, 0.01)
    d.edge(True, 0.02)
    assert d.advance(0.06) == []
    assert d.pressed


def test_disarmed_holds_never_fire() -> None:
    d = GestureDetector(hold_seconds=None, long_hold_seconds=None, bounce_seconds=0.0)
    d.edge(True, 0.0)
    assert d.next_deadline() is None
    assert d.advance(60.0) == []
    assert names(d.edge(False, 60.0)) == ["button_up", "press"]


def test_a_push_to_talk_button_has_no_holds() -> None:
    mapping = ButtonMapping.from_config("auto", "reconnect", "restart", audio_mode="ptt")
    assert mapping.push_to_talk
    d = detector_for(mapping, hold_seconds=2.0, long_hold_seconds=10.0, bounce_seconds=0.0)
    d.edge(True, 0.0)
    assert d.advance(30.0) == []


def test_auto_press_is_mute_unless_the_audio_mode_is_ptt() -> None:
    assert ButtonMapping.from_config("auto", "reconnect", "restart", "full_duplex").press is (
        Action.TOGGLE_MUTE
    )
    assert ButtonMapping.from_config("auto", "reconnect", "restart", "muted").press is (
        Action.TOGGLE_MUTE
    )
    assert ButtonMapping.from_config("reconnect", "none", "restart", "full_duplex") == (
        ButtonMapping(Action.RECONNECT, Action.NONE, Action.RESTART)
    )
    assert starts_muted("ptt")
    assert starts_muted("muted")
    assert not starts_muted("full_duplex")


# --- the actions --------------------------------------------------------------------


def real_video() -> AloVideo:
    config = config_from_dict(
        {"device": {"user_id": "door-1"}, "alo": {"channel": "c", "url": "http://127.0.0.1:9/w"}}
    )
    return AloVideo(VideoUser("door-1"), "token", config=config)


class RecordingSession:
    """A session stand-in that records what the button asked of it."""

    def __init__(self) -> None:
        self.events = EventTarget()
        self.muted = False
        self.reconnects = 0

    async def set_muted(self, muted: bool) -> None:
        self.muted = muted

    def reconnect_now(self) -> None:
        self.reconnects += 1


def announced(events: EventTarget) -> list[dict[str, Any]]:
    seen: list[dict[str, Any]] = []
    events.add_event_listener(PANEL_ACTION_EVENT, lambda e: seen.append(e.detail))
    return seen


async def test_press_toggles_mute_on_a_real_video_and_announces_it() -> None:
    video = real_video()
    seen = announced(video.events)
    performed: list[Action] = []
    actions = ButtonActions(
        video, ButtonMapping(), request_restart=lambda: None, on_performed=performed.append
    )
    assert await actions.perform(GestureEvent(G.PRESS, 1.0, 0.2)) is Action.TOGGLE_MUTE
    assert video.muted
    await actions.perform(GestureEvent(G.PRESS, 2.0, 0.2))
    assert not video.muted
    assert seen == [
        {"action": "toggle_mute", "gesture": "press", "heldSeconds": 0.2, "muted": True},
        {"action": "toggle_mute", "gesture": "press", "heldSeconds": 0.2, "muted": False},
    ]
    assert performed == [Action.TOGGLE_MUTE, Action.TOGGLE_MUTE]


async def test_push_to_talk_unmutes_while_held() -> None:
    video = real_video()
    await video.set_muted(True)  # what audio.mode = "ptt" starts with
    mapping = ButtonMapping.from_config("auto", "reconnect", "restart", "ptt")
    actions = ButtonActions(video, mapping, request_restart=lambda: None)
    d = detector_for(mapping, hold_seconds=2.0, long_hold_seconds=10.0, bounce_seconds=0.05)
    for gesture in d.edge(True, 0.0):
        await actions.perform(gesture)
    assert not video.muted
    assert d.advance(15.0) == []  # talking for a long time reconnects nothing
    for gesture in d.edge(False, 15.0):
        await actions.perform(gesture)
    assert video.muted


async def test_hold_reconnects_and_long_hold_requests_a_restart() -> None:
    session = RecordingSession()
    seen = announced(session.events)
    restarts: list[str] = []
    actions = ButtonActions(
        session, ButtonMapping(), request_restart=lambda: restarts.append("restart")
    )
    d = detector()
    for gesture in [*d.edge(True, 0.0), *d.advance(10.0), *d.edge(False, 10.5)]:
        await actions.perform(gesture)
    assert session.reconnects == 1
    assert restarts == ["restart"]
    assert [(e["action"], e["gesture"], e["heldSeconds"]) for e in seen] == [
        ("reconnect", "hold", 2.0),
        ("restart", "long_hold", 10.0),
    ]


async def test_none_and_unmapped_gestures_do_nothing() -> None:
    session = RecordingSession()
    seen = announced(session.events)
    mapping = ButtonMapping(Action.NONE, Action.NONE, Action.NONE)
    actions = ButtonActions(session, mapping, request_restart=lambda: None)
    for gesture in (G.BUTTON_DOWN, G.BUTTON_UP, G.PRESS, G.HOLD, G.LONG_HOLD):
        assert await actions.perform(GestureEvent(gesture, 0.0)) is None
    assert seen == []
    assert session.reconnects == 0


async def test_each_action_is_a_journal_line(caplog: pytest.LogCaptureFixture) -> None:
    session = RecordingSession()
    actions = ButtonActions(session, ButtonMapping(), request_restart=lambda: None)
    with caplog.at_level("INFO", logger="alo_edge.panel.actions"):
        await actions.perform(GestureEvent(G.HOLD, 2.0, 2.0))
    (record,) = caplog.records
    assert record.getMessage() == "panel button hold: reconnect"
    assert record.ALO_PANEL_ACTION == "reconnect"  # type: ignore[attr-defined]


def test_panel_action_events_are_sdk_style() -> None:
    event = Event(PANEL_ACTION_EVENT, {"action": "reconnect"})
    assert event.type == "onPanelAction"
