"""The status tracker's bookkeeping, driven by SDK events and stats samples (no I/O, no sleeps)."""

from __future__ import annotations

from typing import Any

import pytest

from alo_edge.cli.inspection import describe_status
from alo_edge.config import config_from_dict
from alo_edge.errors import ConfigError
from alo_edge.events import Event
from alo_edge.system.status import StatusTracker
from alo_edge.transport.base import OutboundStats
from alo_edge.transport.whip import link_target

DOC: dict[str, Any] = {
    "device": {"user_id": "door-1", "device_id": "pi-1"},
    "alo": {"url": "https://alo.example.net/whip/front", "channel": "front"},
}


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def tracker() -> tuple[StatusTracker, FakeClock]:
    clock = FakeClock()
    return StatusTracker(config_from_dict(DOC), clock=clock, wall=lambda: 1_700_000_000.0), clock


def change(state: str, **detail: Any) -> Event:
    return Event("onConnectionChange", {"state": state, **detail})


def test_counts_connections_retries_and_errors_from_the_state_sequence() -> None:
    t, _ = tracker()
    for state in ("ACQUIRING_ACCESS", "CONNECTING", "CONNECTED"):
        t.on_connection_change(change(state))
    t.on_connection_change(change("ERROR", message="link dead", retryCount=1))
    t.on_connection_change(change("RECONNECT_PENDING", pendingRestartSeconds=0, retryCount=1))
    assert (t.state, t.retry_count, t.pending_restart_seconds) == ("RECONNECT_PENDING", 1, 0)
    for state in ("ACQUIRING_ACCESS", "CONNECTING", "CONNECTED"):
        t.on_connection_change(change(state))
    assert (t.connections, t.reconnects, t.errors) == (2, 1, 1)
    assert t.last_error == "link dead"
    assert (t.retry_count, t.pending_restart_seconds) == (0, None)
    status = t.status()
    assert status["state"] == "CONNECTED"
    assert status["since"] == "2023-11-14T22:13:20+00:00"
    assert status["lastError"] == "link dead"


def test_a_countdown_tick_updates_the_seconds_but_not_since() -> None:
    t, _ = tracker()
    t.on_connection_change(change("RECONNECT_PENDING", pendingRestartSeconds=4, retryCount=3))
    since = t.since_wall
    t.wall = lambda: 1_800_000_000.0
    t.on_connection_change(change("RECONNECT_PENDING", pendingRestartSeconds=3, retryCount=3))
    assert (t.pending_restart_seconds, t.since_wall) == (3, since)


def test_bytes_sent_survive_a_new_connection_and_bitrate_is_per_second() -> None:
    t, clock = tracker()
    first, second = object(), object()
    t.record_outbound(first, [OutboundStats("video", 10, 10_000, None)])
    clock.now += 2.0
    t.record_outbound(first, [OutboundStats("video", 30, 30_000, 0.004)])
    video = t.kinds["video"]
    assert video.bitrate == pytest.approx(80_000)  # 20 kB in 2 s
    assert video.round_trip_time == 0.004
    clock.now += 1.0
    t.record_outbound(second, [OutboundStats("video", 5, 2_000, None)])
    assert video.bytes_base + video.bytes_now == 32_000
    assert video.packets_base + video.packets_now == 35
    assert video.bitrate == 0.0  # no rate until two samples of the same connection
    assert video.round_trip_time is None


def test_describe_status_is_a_few_lines_for_a_person() -> None:
    t, _ = tracker()
    t.on_connection_change(change("ERROR", message="server gone", retryCount=2))
    t.on_connection_change(change("RECONNECT_PENDING", pendingRestartSeconds=7, retryCount=2))
    text = describe_status(t.status())
    assert text.splitlines()[0].startswith("state      RECONNECT_PENDING since ")
    assert "retry      2, next attempt in 7 s" in text
    assert "last error server gone" in text
    assert "channel    front over whip" in text


@pytest.mark.parametrize("listen", ["8787", "localhost:", "127.0.0.1:http", "[::1]:70000"])
def test_a_bad_status_listen_names_the_key(listen: str) -> None:
    with pytest.raises(ConfigError, match=r"^status\.listen: expected HOST:PORT"):
        config_from_dict({**DOC, "status": {"listen": listen}})


@pytest.mark.parametrize("listen", ["", "127.0.0.1:0", "[::1]:8787", "0.0.0.0:9100"])
def test_status_listen_takes_host_port_or_empty(listen: str) -> None:
    assert str(config_from_dict({**DOC, "status": {"listen": listen}}).status.listen) == listen


def test_link_target_finds_the_events_relation_and_resolves_it() -> None:
    links = [
        '<stun:stun.example.net>; rel="ice-server"',
        '</api/channels/front/events>; rel="urn:x-alo-edge:events"',
    ]
    base = "http://lab.example:8080/whip/front"
    assert link_target(links, "urn:x-alo-edge:events", base) == (
        "http://lab.example:8080/api/channels/front/events"
    )
    assert link_target(links[:1], "urn:x-alo-edge:events", base) is None
