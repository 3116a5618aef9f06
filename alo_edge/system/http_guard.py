"""Bounds for the status endpoint's HTTP server: how many connections, and for how long.

aiohttp's server keeps a connection that has not sent a complete request until its
keep-alive timeout (about an hour by default), and accepts as many as come: 300
half-open connections to a device's status page held 300 file descriptors for an
hour. aiohttp has no option for either bound (only the listen backlog), so this
wraps its protocol factory: :class:`BoundedServer` is what ``loop.create_server``
calls for each accepted connection, and it

- refuses a connection beyond ``max_connections`` open at once (closed as soon as it
  is accepted, so it costs a descriptor for an instant, not for an hour), and
- closes every connection ``deadline`` seconds after it was accepted: reading the
  request line and headers, answering and sending must fit in it. The status
  endpoint answers from memory in milliseconds and closes after each answer, so only
  a client that is slow on purpose (or gone) ever meets the deadline.

Everything else is aiohttp's own request handler, to which each call is forwarded.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

logger = logging.getLogger(__name__)

#: A refusal is logged at most this often (a flood must not flood the journal too).
REFUSAL_LOG_INTERVAL = 60.0


class BoundedServer:
    """A protocol factory for ``loop.create_server``: ``factory``'s protocols, bounded.

    ``factory`` makes the real protocol (aiohttp's ``web.Server``); at most
    ``max_connections`` are open at once, each for at most ``deadline`` seconds.
    """

    def __init__(
        self,
        factory: Callable[[], asyncio.Protocol],
        *,
        max_connections: int,
        deadline: float,
        name: str = "status endpoint",
    ) -> None:
        self._factory = factory
        self.max_connections = max_connections
        self.deadline = deadline
        self._name = name
        self._open: set[_BoundedConnection] = set()
        #: Connections refused because ``max_connections`` were open.
        self.refused = 0
        #: Connections closed because they were still open at their deadline.
        self.expired = 0
        self._refusals_logged_at: float | None = None

    @property
    def open_connections(self) -> int:
        """Connections accepted and not yet closed."""
        return len(self._open)

    def __call__(self) -> asyncio.Protocol:
        return _BoundedConnection(self)

    def close_all(self) -> None:
        """Close every open connection now (the server is stopping)."""
        for connection in list(self._open):
            connection.abort()

    def _admit(self, connection: _BoundedConnection) -> bool:
        if len(self._open) >= self.max_connections:
            self.refused += 1
            now = asyncio.get_running_loop().time()
            last = self._refusals_logged_at
            if last is None or now - last >= REFUSAL_LOG_INTERVAL:
                self._refusals_logged_at = now
                logger.warning(
                    "%s: %d connections open (the most it takes); refused %d so far",
                    self._name,
                    len(self._open),
                    self.refused,
                )
            return False
        self._open.add(connection)
        return True

    def _release(self, connection: _BoundedConnection) -> None:
        self._open.discard(connection)


class _BoundedConnection(asyncio.Protocol):
    """One accepted connection: admitted or refused, then forwarded to the real protocol."""

    def __init__(self, owner: BoundedServer) -> None:
        self._owner = owner
        self._inner: asyncio.Protocol | None = None
        self._transport: asyncio.Transport | None = None
        self._timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        if not self._owner._admit(self):
            transport.abort()
            return
        loop = asyncio.get_running_loop()
        self._timer = loop.call_later(self._owner.deadline, self._expire)
        self._inner = self._owner._factory()
        self._inner.connection_made(transport)

    def _expire(self) -> None:
        self._timer = None
        self._owner.expired += 1
        owner = self._owner
        logger.debug("%s: a connection outlived %g s; closed", owner._name, owner.deadline)
        self.abort()

    def abort(self) -> None:
        """Close the connection now, dropping anything unsent."""
        if self._transport is not None:
            self._transport.abort()

    def data_received(self, data: bytes) -> None:
        if self._inner is not None:
            self._inner.data_received(data)

    def eof_received(self) -> bool | None:
        return self._inner.eof_received() if self._inner is not None else None

    def pause_writing(self) -> None:
        if self._inner is not None:
            self._inner.pause_writing()

    def resume_writing(self) -> None:
        if self._inner is not None:
            self._inner.resume_writing()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._owner._release(self)
        inner, self._inner = self._inner, None
        if inner is not None:
            inner.connection_lost(exc)
