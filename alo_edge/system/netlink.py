"""rtnetlink, the pure part: parse address and route messages, decide "the network came back".

Linux announces every address and route change on AF_NETLINK/NETLINK_ROUTE multicast
groups. This module only turns bytes into :class:`AddressChange` / :class:`RouteChange`
values and keeps a :class:`NetworkView` of what is known, so it is tested with byte
strings and no socket; :mod:`alo_edge.system.netwatch` owns the socket.

What counts as the network coming back (the moment a pending reconnect wait should be
cut short) is a *new* global address that is usable (not tentative, not failed
duplicate-address detection), a *new* default route in the main table, or an
interface coming back up after it was seen down. A lease renewal that re-announces a
known address is not news, and neither is a route to a subnet.

Linux removes an interface's routes when it goes down without sending RTM_DELROUTE
for them, so a link going down also makes the view forget that interface's default
routes and addresses: when they are put back, that is news again.
"""

from __future__ import annotations

import ipaddress
import socket
import struct
from collections.abc import Iterator
from dataclasses import dataclass

# <linux/netlink.h>, <linux/rtnetlink.h>, <linux/if_addr.h>
NLMSG_NOOP = 1
NLMSG_ERROR = 2
NLMSG_DONE = 3
NLMSG_OVERRUN = 4
NLM_F_REQUEST = 0x1
NLM_F_DUMP = 0x300
RTM_NEWLINK = 16
RTM_DELLINK = 17
RTM_NEWADDR = 20
RTM_DELADDR = 21
RTM_GETADDR = 22
RTM_NEWROUTE = 24
RTM_DELROUTE = 25
RTM_GETROUTE = 26
RTMGRP_LINK = 0x1
RTMGRP_IPV4_IFADDR = 0x10
RTMGRP_IPV4_ROUTE = 0x40
RTMGRP_IPV6_IFADDR = 0x100
RTMGRP_IPV6_ROUTE = 0x400
#: The multicast groups the watcher listens to: links, addresses and routes, IPv4 and IPv6.
GROUPS = (
    RTMGRP_LINK | RTMGRP_IPV4_IFADDR | RTMGRP_IPV4_ROUTE | RTMGRP_IPV6_IFADDR | RTMGRP_IPV6_ROUTE
)
IFF_UP = 0x1
IFF_RUNNING = 0x40

IFA_ADDRESS = 1
IFA_LOCAL = 2
IFA_FLAGS = 8
IFA_F_DADFAILED = 0x08
IFA_F_TENTATIVE = 0x40
RT_SCOPE_UNIVERSE = 0
RTA_DST = 1
RTA_OIF = 4
RTA_GATEWAY = 5
RTA_TABLE = 15
RTN_UNICAST = 1
RT_TABLE_MAIN = 254

_NLMSGHDR = struct.Struct("=IHHII")
_IFADDRMSG = struct.Struct("=BBBBI")
_IFINFOMSG = struct.Struct("=BBHiII")
_RTMSG = struct.Struct("=BBBBBBBBI")
_RTATTR = struct.Struct("=HH")


def _align(length: int) -> int:
    return (length + 3) & ~3


@dataclass(frozen=True)
class AddressChange:
    """An address was added to (``added``) or removed from interface ``index``."""

    added: bool
    family: int
    index: int
    address: str
    scope: int
    flags: int

    @property
    def usable(self) -> bool:
        """A global address that has passed duplicate-address detection."""
        return self.scope == RT_SCOPE_UNIVERSE and not self.flags & (
            IFA_F_TENTATIVE | IFA_F_DADFAILED
        )


@dataclass(frozen=True)
class RouteChange:
    """A route was added or removed; ``dst_len`` 0 in the main table is a default route."""

    added: bool
    family: int
    table: int
    dst_len: int
    route_type: int
    gateway: str | None
    oif: int | None

    @property
    def is_default(self) -> bool:
        return self.dst_len == 0 and self.table == RT_TABLE_MAIN and self.route_type == RTN_UNICAST


@dataclass(frozen=True)
class LinkChange:
    """Interface ``index`` is now up and running (``up``) or not (down, no carrier, gone)."""

    index: int
    up: bool


@dataclass(frozen=True)
class Overrun:
    """The kernel dropped messages (the receive buffer was full): the view may be stale."""


Change = AddressChange | RouteChange | LinkChange | Overrun


def _attributes(data: bytes, offset: int, end: int) -> dict[int, bytes]:
    attributes: dict[int, bytes] = {}
    while offset + _RTATTR.size <= end:
        length, kind = _RTATTR.unpack_from(data, offset)
        if length < _RTATTR.size or offset + length > end:
            break  # a malformed attribute ends the list rather than the parse
        attributes[kind & 0x3FFF] = data[offset + _RTATTR.size : offset + length]
        offset += _align(length)
    return attributes


def _ip(family: int, raw: bytes | None) -> str | None:
    if raw is None:
        return None
    try:
        if family == socket.AF_INET and len(raw) == 4:
            return str(ipaddress.IPv4Address(raw))
        if family == socket.AF_INET6 and len(raw) == 16:
            return str(ipaddress.IPv6Address(raw))
    except ValueError:
        return None
    return None


def _u32(raw: bytes | None) -> int | None:
    if raw is None or len(raw) < 4:
        return None
    value: int = struct.unpack_from("=I", raw)[0]
    return value


def _address(kind: int, data: bytes, offset: int, end: int) -> AddressChange | None:
    if offset + _IFADDRMSG.size > end:
        return None
    family, _prefix, flags, scope, index = _IFADDRMSG.unpack_from(data, offset)
    attributes = _attributes(data, offset + _IFADDRMSG.size, end)
    # IFA_LOCAL is the interface's own address on point-to-point links; IFA_ADDRESS elsewhere.
    address = _ip(family, attributes.get(IFA_LOCAL) or attributes.get(IFA_ADDRESS))
    if address is None:
        return None
    extended = _u32(attributes.get(IFA_FLAGS))
    return AddressChange(
        added=kind == RTM_NEWADDR,
        family=family,
        index=index,
        address=address,
        scope=scope,
        flags=flags if extended is None else extended,
    )


def _route(kind: int, data: bytes, offset: int, end: int) -> RouteChange | None:
    if offset + _RTMSG.size > end:
        return None
    family, dst_len, _src, _tos, table, _proto, _scope, route_type, _flags = _RTMSG.unpack_from(
        data, offset
    )
    attributes = _attributes(data, offset + _RTMSG.size, end)
    return RouteChange(
        added=kind == RTM_NEWROUTE,
        family=family,
        table=_u32(attributes.get(RTA_TABLE)) or table,
        dst_len=dst_len,
        route_type=route_type,
        gateway=_ip(family, attributes.get(RTA_GATEWAY)),
        oif=_u32(attributes.get(RTA_OIF)),
    )


def parse_messages(data: bytes) -> Iterator[Change]:
    """The address and route changes in one netlink datagram; anything else is skipped.

    Truncated or malformed messages end the parse of that datagram; they never raise.
    """
    offset = 0
    while offset + _NLMSGHDR.size <= len(data):
        length, kind, _flags, _seq, _pid = _NLMSGHDR.unpack_from(data, offset)
        if length < _NLMSGHDR.size or offset + length > len(data):
            return
        body, end = offset + _NLMSGHDR.size, offset + length
        change: Change | None = None
        if kind in (RTM_NEWADDR, RTM_DELADDR):
            change = _address(kind, data, body, end)
        elif kind in (RTM_NEWROUTE, RTM_DELROUTE):
            change = _route(kind, data, body, end)
        elif kind in (RTM_NEWLINK, RTM_DELLINK) and body + _IFINFOMSG.size <= end:
            flags = _IFINFOMSG.unpack_from(data, body)[4]
            running = kind == RTM_NEWLINK and flags & IFF_UP and flags & IFF_RUNNING
            change = LinkChange(index=_IFINFOMSG.unpack_from(data, body)[3], up=bool(running))
        elif kind == NLMSG_OVERRUN:
            change = Overrun()
        elif kind == NLMSG_DONE:
            return
        if change is not None:
            yield change
        offset += _align(length)


def dump_request(kind: int, sequence: int) -> bytes:
    """An RTM_GETADDR or RTM_GETROUTE dump request for every family."""
    body = _IFADDRMSG.pack(0, 0, 0, 0, 0) if kind == RTM_GETADDR else _RTMSG.pack(*[0] * 9)
    header = _NLMSGHDR.pack(
        _NLMSGHDR.size + len(body), kind, NLM_F_REQUEST | NLM_F_DUMP, sequence, 0
    )
    return header + body


def is_done(data: bytes) -> bool:
    """True when a dump's datagram holds its NLMSG_DONE (or an error ending it)."""
    offset = 0
    while offset + _NLMSGHDR.size <= len(data):
        length, kind = _NLMSGHDR.unpack_from(data, offset)[:2]
        if kind in (NLMSG_DONE, NLMSG_ERROR):
            return True
        if length < _NLMSGHDR.size:
            return True
        offset += _align(length)
    return False


class NetworkView:
    """The usable addresses and default routes known now; says when one is new.

    ``apply`` returns a short description ("address 192.0.2.7", "default route via
    192.0.2.1") when a change makes the network more reachable than it was, else None.
    """

    def __init__(self) -> None:
        self._addresses: set[tuple[int, str]] = set()
        self._defaults: set[tuple[int, str | None, int | None]] = set()
        self._down: set[int] = set()

    def apply(self, change: Change) -> str | None:
        if isinstance(change, AddressChange):
            key = (change.index, change.address)
            if not change.added or not change.usable:
                self._addresses.discard(key)
                return None
            if key in self._addresses:
                return None  # a renewal of a known address
            self._addresses.add(key)
            return f"address {change.address}"
        if isinstance(change, RouteChange):
            if not change.is_default:
                return None
            route = (change.family, change.gateway, change.oif)
            if not change.added:
                self._defaults.discard(route)
                return None
            if route in self._defaults:
                return None
            self._defaults.add(route)
            via = f" via {change.gateway}" if change.gateway else ""
            return f"default route{via}"
        if isinstance(change, LinkChange):
            if not change.up:
                # The kernel drops the interface's routes without saying so: forget them.
                self._down.add(change.index)
                self._defaults = {d for d in self._defaults if d[2] != change.index}
                self._addresses = {a for a in self._addresses if a[0] != change.index}
                return None
            if change.index in self._down:
                self._down.discard(change.index)
                return f"interface {change.index} up"
            return None
        # An overrun: changes were lost, one of them may have been the network coming back.
        return "lost netlink messages"
