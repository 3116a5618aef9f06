"""The netlink watcher: parsing is pure, and the component reacts only to real news.

Messages are built byte by byte as the kernel sends them; the component reads them
from a datagram socketpair standing in for the netlink socket, so no root is needed.
The real socket in a real namespace is exercised by ``tests/faults/test_netwatch.py``.
"""

from __future__ import annotations

import asyncio
import socket
import struct
from collections.abc import AsyncIterator
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from alo_edge.events import Event, EventTarget
from alo_edge.system import netlink as nl
from alo_edge.system.netwatch import NetworkWatcher


def attribute(kind: int, payload: bytes) -> bytes:
    raw = struct.pack("=HH", 4 + len(payload), kind) + payload
    return raw + b"\0" * (-len(raw) % 4)


def message(kind: int, body: bytes) -> bytes:
    return struct.pack("=IHHII", 16 + len(body), kind, 0, 0, 0) + body


def address(
    address: str, *, added: bool = True, index: int = 2, scope: int = 0, flags: int = 0
) -> bytes:
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    packed = socket.inet_pton(family, address)
    body = struct.pack("=BBBBI", family, 24, flags & 0xFF, scope, index)
    body += attribute(nl.IFA_ADDRESS, packed) + attribute(nl.IFA_FLAGS, struct.pack("=I", flags))
    return message(nl.RTM_NEWADDR if added else nl.RTM_DELADDR, body)


def route(
    *, added: bool = True, dst_len: int = 0, gateway: str | None = "192.0.2.1", table: int = 254
) -> bytes:
    body = struct.pack("=BBBBBBBBI", socket.AF_INET, dst_len, 0, 0, table, 4, 0, nl.RTN_UNICAST, 0)
    if gateway is not None:
        body += attribute(nl.RTA_GATEWAY, socket.inet_aton(gateway))
    body += attribute(nl.RTA_OIF, struct.pack("=I", 2))
    return message(nl.RTM_NEWROUTE if added else nl.RTM_DELROUTE, body)


# --- parsing -----------------------------------------------------------------------------


def test_address_and_route_messages_are_parsed() -> None:
    changes = list(nl.parse_messages(address("192.0.2.7") + route() + address("2001:db8::7")))

    assert changes == [
        nl.AddressChange(True, socket.AF_INET, 2, "192.0.2.7", 0, 0),
        nl.RouteChange(True, socket.AF_INET, 254, 0, nl.RTN_UNICAST, "192.0.2.1", 2),
        nl.AddressChange(True, socket.AF_INET6, 2, "2001:db8::7", 0, 0),
    ]
    assert changes[1].is_default  # type: ignore[union-attr]


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=512))
def test_random_bytes_never_raise(data: bytes) -> None:
    for change in nl.parse_messages(data):
        assert isinstance(change, nl.AddressChange | nl.RouteChange | nl.Overrun)


@settings(max_examples=100, deadline=None)
@given(st.integers(min_value=0, max_value=200))
def test_a_truncated_message_never_raises(cut: int) -> None:
    data = address("192.0.2.7") + route()
    list(nl.parse_messages(data[:cut]))


def test_dump_request_is_a_well_formed_header() -> None:
    request = nl.dump_request(nl.RTM_GETROUTE, 7)
    length, kind, flags, sequence, _ = struct.unpack_from("=IHHII", request)
    assert (length, kind, sequence) == (len(request), nl.RTM_GETROUTE, 7)
    assert flags == nl.NLM_F_REQUEST | nl.NLM_F_DUMP


def link(index: int = 2, *, up: bool) -> bytes:
    flags = (nl.IFF_UP | nl.IFF_RUNNING) if up else 0
    return message(nl.RTM_NEWLINK, struct.pack("=BBHiII", 0, 0, 1, index, flags, 0))


# --- what counts as news -----------------------------------------------------------------


def news(view: nl.NetworkView, data: bytes) -> list[str | None]:
    return [view.apply(change) for change in nl.parse_messages(data)]


def test_a_new_address_is_news_once_and_a_renewal_is_not() -> None:
    view = nl.NetworkView()
    assert news(view, address("192.0.2.7")) == ["address 192.0.2.7"]
    assert news(view, address("192.0.2.7")) == [None]  # a DHCP renewal re-announces it
    assert news(view, address("192.0.2.7", added=False)) == [None]
    assert news(view, address("192.0.2.7")) == ["address 192.0.2.7"]  # it came back


@pytest.mark.parametrize(
    "data",
    [
        address("127.0.0.1", scope=254),  # host scope: loopback
        address("fe80::1", scope=253),  # link scope: reaches no server
        address("2001:db8::7", flags=nl.IFA_F_TENTATIVE),  # duplicate detection not done
        address("2001:db8::7", flags=nl.IFA_F_DADFAILED),
        route(dst_len=24, gateway=None),  # a subnet, not a default route
        route(table=255),  # the local table
    ],
    ids=["loopback", "link-local", "tentative", "dad-failed", "subnet-route", "local-table"],
)
def test_what_is_not_news(data: bytes) -> None:
    assert news(nl.NetworkView(), data) == [None]


def test_a_default_route_is_news_until_it_is_known() -> None:
    view = nl.NetworkView()
    assert news(view, route()) == ["default route via 192.0.2.1"]
    assert news(view, route()) == [None]
    assert news(view, route(added=False)) == [None]
    assert news(view, route()) == ["default route via 192.0.2.1"]


def test_a_link_coming_back_is_news_and_its_routes_are_news_again() -> None:
    view = nl.NetworkView()
    news(view, address("192.0.2.7") + route())
    assert news(view, link(up=True)) == [None]  # up, and never seen down: nothing new
    # Down: Linux drops the routes without RTM_DELROUTE; the view forgets them itself.
    assert news(view, link(up=False)) == [None]
    assert news(view, link(up=True)) == ["interface 2 up"]
    assert news(view, route()) == ["default route via 192.0.2.1"]  # dhcpcd puts it back


# --- the component -----------------------------------------------------------------------


class FakeVideo:
    """The part of AloVideo the watcher uses: events, the state, reconnect_now."""

    def __init__(self) -> None:
        self.events = EventTarget()
        self.connection_state = "CONNECTED"
        self.reconnects = 0
        self.reconnected = asyncio.Event()

    def reconnect_now(self) -> None:
        self.reconnects += 1
        self.reconnected.set()

    def enter(self, state: str) -> None:
        self.connection_state = state
        self.events.dispatch_event(Event("onConnectionChange", {"state": state}))


class Wire:
    """A datagram socketpair: the watcher reads one end, the test writes the kernel's part."""

    def __init__(self) -> None:
        self.watcher_end, self.kernel_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.watcher_end.setblocking(False)

    def send(self, data: bytes) -> None:
        self.kernel_end.send(data)


@pytest.fixture
async def wired() -> AsyncIterator[tuple[Wire, FakeVideo]]:
    wire = Wire()
    video = FakeVideo()

    def seed(view: nl.NetworkView) -> None:
        for change in nl.parse_messages(address("192.0.2.7") + route()):
            view.apply(change)

    watcher = NetworkWatcher(open_socket=lambda: wire.watcher_end, seed=seed)
    await watcher.start(video)  # type: ignore[arg-type]
    try:
        yield wire, video
    finally:
        await watcher.stop()
        wire.kernel_end.close()


async def settle() -> None:
    """Let the loop run the reader callback for what was just written."""
    for _ in range(5):
        await asyncio.sleep(0)


async def test_a_new_address_while_waiting_reconnects_now(wired: Any) -> None:
    wire, video = wired
    video.enter("RECONNECT_PENDING")

    wire.send(address("192.0.2.8"))

    await asyncio.wait_for(video.reconnected.wait(), 2)
    assert video.reconnects == 1


async def test_known_addresses_and_other_states_do_not_reconnect(wired: Any) -> None:
    wire, video = wired
    video.enter("RECONNECT_PENDING")
    wire.send(address("192.0.2.7") + route())  # what the seed already knew
    await settle()
    video.enter("CONNECTED")
    wire.send(address("192.0.2.9"))  # news, but nothing is waiting
    await settle()
    assert video.reconnects == 0


async def test_news_during_an_attempt_cuts_the_next_wait_short(wired: Any) -> None:
    wire, video = wired
    video.enter("CONNECTING")
    wire.send(route(gateway="192.0.2.254"))
    await settle()
    assert video.reconnects == 0

    video.enter("ERROR")
    video.enter("RECONNECT_PENDING")
    assert video.reconnects == 1
    video.enter("RECONNECT_PENDING")  # the next countdown tick: once is enough
    assert video.reconnects == 1


async def test_without_netlink_the_watcher_does_nothing(caplog: pytest.LogCaptureFixture) -> None:
    def unavailable() -> socket.socket:
        raise OSError(97, "Address family not supported by protocol")

    watcher = NetworkWatcher(open_socket=unavailable)
    await watcher.start(FakeVideo())  # type: ignore[arg-type]
    await watcher.stop()
    assert "network watch unavailable" in caplog.text
