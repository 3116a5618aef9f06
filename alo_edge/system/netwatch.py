"""Cut a pending reconnect wait short when the host's network comes back (netlink).

A door intercom on Wi-Fi loses its address and default route when the access point
goes away, and dhcpcd puts them back when it returns. By then the backoff may be in
a 30 s wait; this component listens to rtnetlink's address and route groups and, when
a new usable address or default route appears while the session is
RECONNECT_PENDING, calls ``reconnect_now()``. If it appears while an attempt is in
flight, the wait after that attempt (should it fail) is cut short instead.

Linux only; where AF_NETLINK is missing the component logs once and does nothing.
The pure parsing lives in :mod:`alo_edge.system.netlink`.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import socket
from collections.abc import Callable

from alo_edge.events import Event
from alo_edge.session.view import SessionView
from alo_edge.system.netlink import (
    GROUPS,
    RTM_GETADDR,
    RTM_GETROUTE,
    NetworkView,
    Overrun,
    dump_request,
    is_done,
    parse_messages,
)

logger = logging.getLogger(__name__)

RECEIVE_BUFFER = 1 << 20
#: Datagrams read per wake-up: a flood of route changes cannot starve the event loop.
MAX_READS_PER_WAKEUP = 64
DUMP_TIMEOUT = 2.0
MAX_DUMP_DATAGRAMS = 10_000
_RECONNECT_PENDING = "RECONNECT_PENDING"
_ATTEMPTING = ("ACQUIRING_ACCESS", "CONNECTING")


def open_netlink_socket(groups: int = GROUPS) -> socket.socket:
    """A non-blocking NETLINK_ROUTE socket subscribed to ``groups``."""
    sock = socket.socket(
        socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_NONBLOCK, socket.NETLINK_ROUTE
    )
    try:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RECEIVE_BUFFER)
        sock.bind((0, groups))
    except BaseException:
        sock.close()
        raise
    return sock


def seed_view(view: NetworkView) -> None:
    """Fill ``view`` with today's addresses and default routes, so only changes are news."""
    with socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, socket.NETLINK_ROUTE) as sock:
        sock.settimeout(DUMP_TIMEOUT)
        for sequence, kind in enumerate((RTM_GETADDR, RTM_GETROUTE), start=1):
            sock.send(dump_request(kind, sequence))
            for _ in range(MAX_DUMP_DATAGRAMS):
                data = sock.recv(RECEIVE_BUFFER)
                for change in parse_messages(data):
                    view.apply(change)
                if is_done(data):
                    break


class NetworkWatcher:
    """A SessionComponent: new address or default route while waiting -> reconnect now."""

    def __init__(
        self,
        open_socket: Callable[[], socket.socket] = open_netlink_socket,
        seed: Callable[[NetworkView], None] = seed_view,
    ) -> None:
        self._open_socket = open_socket
        self._seed = seed
        self._view = NetworkView()
        self._sock: socket.socket | None = None
        self._session: SessionView | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._retry_after_attempt = False

    async def start(self, session: SessionView) -> None:
        """Subscribe to netlink (first) and read today's state (second), then watch."""
        try:
            # Subscribing before the dump: a change between the two is seen twice, never lost.
            sock = self._open_socket()
        except (OSError, AttributeError) as exc:  # AttributeError: no AF_NETLINK on this OS
            logger.warning("network watch unavailable (%s); backoff waits run their course", exc)
            return
        try:
            self._seed(self._view)
        except OSError as exc:
            logger.info("could not read the current addresses and routes: %s", exc)
        self._sock = sock
        self._session = session
        self._loop = asyncio.get_running_loop()
        self._loop.add_reader(sock.fileno(), self._readable)
        session.events.add_event_listener("onConnectionChange", self._on_state)
        logger.debug("watching netlink for new addresses and default routes")

    async def stop(self) -> None:
        """Stop listening and close the socket."""
        sock, self._sock = self._sock, None
        if sock is not None and self._loop is not None:
            self._loop.remove_reader(sock.fileno())
            sock.close()
        if self._session is not None:
            self._session.events.remove_event_listener("onConnectionChange", self._on_state)
            self._session = None

    def _readable(self) -> None:
        sock = self._sock
        if sock is None:
            return
        for _ in range(MAX_READS_PER_WAKEUP):
            try:
                data = sock.recv(RECEIVE_BUFFER)
            except BlockingIOError:
                return
            except OSError as exc:
                if exc.errno == errno.ENOBUFS:
                    self._network_changed(self._view.apply(Overrun()))
                    continue
                logger.warning("netlink read failed: %s", exc)
                return
            for change in parse_messages(data):
                self._network_changed(self._view.apply(change))

    def _network_changed(self, what: str | None) -> None:
        session = self._session
        if what is None or session is None:
            return
        state = session.connection_state
        if state == _RECONNECT_PENDING:
            logger.info("network came back (%s): reconnecting now", what)
            session.reconnect_now()
        elif state in _ATTEMPTING:
            logger.info("network came back (%s) during an attempt", what)
            self._retry_after_attempt = True

    def _on_state(self, event: Event) -> None:
        state = event.detail.get("state")
        if state == _RECONNECT_PENDING and self._retry_after_attempt and self._session is not None:
            self._retry_after_attempt = False
            logger.info("the network came back during the failed attempt: reconnecting now")
            self._session.reconnect_now()
        elif state == "CONNECTED":
            self._retry_after_attempt = False
