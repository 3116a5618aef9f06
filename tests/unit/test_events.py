"""The SDK's EventTarget: listeners per event name, isolated from each other's failures."""

from __future__ import annotations

import logging

import pytest

from alo_edge.events import Event, EventTarget


def test_listener_receives_events_of_its_name_only() -> None:
    target = EventTarget()
    seen: list[Event] = []
    target.add_event_listener("onConnectionChange", seen.append)
    target.dispatch_event(Event("onConnectionChange", {"state": "CONNECTED"}))
    target.dispatch_event(Event("onDisconnect", {"state": "DISCONNECTED"}))
    assert seen == [Event("onConnectionChange", {"state": "CONNECTED"})]


def test_listeners_run_in_the_order_they_were_added() -> None:
    target = EventTarget()
    order: list[str] = []
    target.add_event_listener("onDisconnect", lambda e: order.append("first"))
    target.add_event_listener("onDisconnect", lambda e: order.append("second"))
    target.dispatch_event(Event("onDisconnect"))
    assert order == ["first", "second"]


def test_removed_listener_is_no_longer_called() -> None:
    target = EventTarget()
    seen: list[Event] = []
    target.add_event_listener("onDisconnect", seen.append)
    target.remove_event_listener("onDisconnect", seen.append)
    target.dispatch_event(Event("onDisconnect"))
    assert seen == []


def test_removing_an_unknown_listener_is_harmless() -> None:
    target = EventTarget()
    seen: list[Event] = []
    target.add_event_listener("onDisconnect", seen.append)
    target.remove_event_listener("onDisconnect", print)
    target.remove_event_listener("onNeverDispatched", print)
    target.dispatch_event(Event("onDisconnect"))
    assert len(seen) == 1


def test_adding_the_same_listener_twice_calls_it_once() -> None:
    target = EventTarget()
    seen: list[Event] = []
    target.add_event_listener("onConnectionChange", seen.append)
    target.add_event_listener("onConnectionChange", seen.append)
    target.dispatch_event(Event("onConnectionChange"))
    assert len(seen) == 1


def test_a_raising_listener_is_logged_and_does_not_stop_the_others(
    caplog: pytest.LogCaptureFixture,
) -> None:
    target = EventTarget()
    seen: list[Event] = []

    def broken(event: Event) -> None:
        raise RuntimeError("listener bug")

    target.add_event_listener("onConnectionChange", broken)
    target.add_event_listener("onConnectionChange", seen.append)
    with caplog.at_level(logging.ERROR, logger="alo_edge.events"):
        target.dispatch_event(Event("onConnectionChange", {"state": "ERROR"}))
    assert seen == [Event("onConnectionChange", {"state": "ERROR"})]
    [record] = caplog.records
    assert "onConnectionChange" in record.getMessage()
    assert record.exc_info is not None
    assert "listener bug" in str(record.exc_info[1])


def test_a_listener_may_remove_itself_while_being_called() -> None:
    target = EventTarget()
    calls: list[str] = []

    def once(event: Event) -> None:
        calls.append("once")
        target.remove_event_listener("onDisconnect", once)

    target.add_event_listener("onDisconnect", once)
    target.add_event_listener("onDisconnect", lambda e: calls.append("always"))
    target.dispatch_event(Event("onDisconnect"))
    target.dispatch_event(Event("onDisconnect"))
    assert calls == ["once", "always", "always"]


def test_event_detail_defaults_to_an_empty_payload() -> None:
    assert Event("onDisconnect").detail == {}
