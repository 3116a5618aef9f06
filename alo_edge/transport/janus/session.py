"""Janus's WebSocket API: one socket, one Janus session, transactions, events, keep-alives.

Every request is a transaction with a timeout; an ``error`` reply (or a plugin
error) becomes a :class:`JanusError` carrying Janus's code and text, except refusals
of the token or room, which are :class:`~alo_edge.errors.AuthError`. Incoming
messages are size-bounded by the WebSocket, and anything malformed is logged and
dropped: the reader task outlives any message. The session is *lost* (and whoever
waits on :meth:`JanusSession.wait_lost` hears why) when the socket closes, a
keep-alive is not acknowledged or Janus expires the session.

Nothing here knows about rooms: :mod:`.room` models the VideoRoom, :mod:`.connection`
is the device in it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import aiohttp

from alo_edge.errors import AuthError, SignallingError, TransportError
from alo_edge.transport.http import map_transport_errors
from alo_edge.urls import mask_url

logger = logging.getLogger(__name__)

SUBPROTOCOL = "janus-protocol"
#: Largest message taken from Janus: an SDP is ~10 KiB, a busy room's publisher list
#: a few tens; anything bigger is not Janus talking sense, and closes the socket.
MAX_MESSAGE_BYTES = 512 * 1024
TRANSACTION_TIMEOUT = 5.0
CONNECT_TIMEOUT = 10.0
#: Keep-alives go at most this far apart, and at a third of the server's session
#: timeout when it is shorter (janus.js uses 25 s against Janus's default of 60 s).
KEEPALIVE_MAX_INTERVAL = 25.0
KEEPALIVE_MIN_INTERVAL = 1.0
#: Each step of leaving (leave, detach, destroy, closing the socket) gets this long.
CLOSE_STEP_TIMEOUT = 2.0
#: Leaving as a whole (leave, every detach in parallel, destroy, the socket) ends within
#: this, even when Janus stops answering: systemd's TimeoutStopSec (5 s) must hold.
CLOSE_DEADLINE = 2.0
#: Of the deadline, this much is kept for closing the socket after the goodbyes.
SOCKET_CLOSE_RESERVE = 0.5
#: Janus core refusals of the token or API secret (403, 405) and the VideoRoom's
#: "unauthorized" (433, a room pin or secret): a credentials problem, not the network.
AUTH_ERROR_CODES = frozenset({403, 405, 433})
#: Reasons logged per connection before malformed messages are only counted.
MAX_LOGGED_MALFORMED = 5


class JanusError(SignallingError):
    """Janus answered a request with an error: ``code`` and ``reason`` are Janus's own."""

    def __init__(self, code: int | None, reason: str, *, what: str) -> None:
        super().__init__(f"Janus refused {what}: error {code}: {reason}")
        self.code = code
        self.reason = reason


def _error_from(code: Any, reason: Any, what: str) -> TransportError | AuthError:
    number = code if isinstance(code, int) and not isinstance(code, bool) else None
    text = str(reason)[:200] if reason is not None else "no reason given"
    if number in AUTH_ERROR_CODES:
        return AuthError(f"Janus refused {what}: error {number}: {text}")
    return JanusError(number, text, what=what)


def positive_id(value: Any) -> int | None:
    """A Janus id (session, handle, publisher): a positive integer, else None."""
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value
    return None


@dataclass
class _Pending:
    future: asyncio.Future[dict[str, Any]]
    #: keepalive's whole answer is an ``ack``; for a plugin message it only says "queued".
    ack_completes: bool


EventHandler = Callable[[dict[str, Any]], None]


class JanusSession:
    """One WebSocket and one Janus session on it: transactions, routed events, keep-alives.

    Owns two tasks: the reader (routes replies to waiting transactions and events to
    the handle they name) and the keep-alive loop; both end in :meth:`close`.
    """

    def __init__(
        self,
        ws: aiohttp.ClientWebSocketResponse,
        token: str,
        *,
        transaction_timeout: float = TRANSACTION_TIMEOUT,
    ) -> None:
        self._ws = ws
        self._token = token
        self._transaction_timeout = transaction_timeout
        self._pending: dict[str, _Pending] = {}
        self._handlers: dict[int, EventHandler] = {}
        self._lost: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self._reader = asyncio.create_task(self._read(), name="alo-edge janus reader")
        self._keepalive: asyncio.Task[None] | None = None
        self._close_task: asyncio.Task[None] | None = None
        self.session_id: int | None = None
        #: The server's session timeout in seconds (``info``); 0 when it never expires.
        self.session_timeout: float | None = None
        self.malformed = 0

    @classmethod
    async def open(
        cls,
        url: str,
        token: str,
        http: aiohttp.ClientSession,
        *,
        connect_within: float = CONNECT_TIMEOUT,
        transaction_timeout: float = TRANSACTION_TIMEOUT,
        keepalive_max_interval: float = KEEPALIVE_MAX_INTERVAL,
    ) -> JanusSession:
        """Connect to ``url``, create a session and start its keep-alives."""
        with map_transport_errors(f"Janus {mask_url(url)}"):
            try:
                async with asyncio.timeout(connect_within):
                    ws = await http.ws_connect(
                        url, protocols=(SUBPROTOCOL,), max_msg_size=MAX_MESSAGE_BYTES
                    )
            except aiohttp.WSServerHandshakeError as exc:
                # A refused upgrade is an answer, not an unreachable server.
                error = AuthError if exc.status in (401, 403) else TransportError
                raise error(
                    f"Janus {mask_url(url)} refused the WebSocket: HTTP {exc.status}"
                ) from None
        session = cls(ws, token, transaction_timeout=transaction_timeout)
        try:
            if ws.protocol != SUBPROTOCOL:
                raise SignallingError(
                    f"Janus {mask_url(url)} did not accept the {SUBPROTOCOL!r} WebSocket "
                    "subprotocol"
                )
            await session._create(keepalive_max_interval)
        except BaseException:
            await session.close()
            raise
        return session

    async def _create(self, keepalive_max_interval: float) -> None:
        info = await self.request({"janus": "info"}, what="info")
        raw = info.get("session-timeout")
        if isinstance(raw, int | float) and not isinstance(raw, bool) and raw >= 0:
            self.session_timeout = float(raw)
        created = await self.request({"janus": "create"}, what="create (a session)")
        data = created.get("data")
        session_id = positive_id(data.get("id")) if isinstance(data, dict) else None
        if session_id is None:
            raise SignallingError("Janus answered 'create' without a session id")
        self.session_id = session_id
        interval = keepalive_max_interval
        if self.session_timeout:
            interval = min(interval, self.session_timeout / 3)
        interval = max(interval, KEEPALIVE_MIN_INTERVAL)
        self._keepalive = asyncio.create_task(
            self._keep_alive(interval), name="alo-edge janus keep-alive"
        )
        logger.info(
            "Janus session %s (server session timeout %s s, keep-alive every %.1f s)",
            session_id,
            "none" if not self.session_timeout else f"{self.session_timeout:g}",
            interval,
        )

    # --- requests ----------------------------------------------------------------------

    async def request(
        self,
        body: dict[str, Any],
        *,
        handle_id: int | None = None,
        what: str,
        ack_completes: bool = False,
        within: float | None = None,
    ) -> dict[str, Any]:
        """Send one transaction and return its reply (``success``, ``event`` ...).

        Raises JanusError/AuthError for an error reply; TransportError when the reply
        does not come ``within`` seconds (default: the transaction timeout) or the
        session is lost meanwhile.
        """
        if self._lost.done():
            raise TransportError(f"Janus session lost before {what}: {self._lost.result()}")
        transaction = secrets.token_hex(8)
        payload = {**body, "transaction": transaction}
        if self.session_id is not None:
            payload["session_id"] = self.session_id
        if handle_id is not None:
            payload["handle_id"] = handle_id
        if self._token:
            payload["token"] = self._token
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[transaction] = _Pending(future, ack_completes)
        limit = self._transaction_timeout if within is None else within
        try:
            await self._ws.send_str(json.dumps(payload))
            waiting: set[asyncio.Future[Any]] = {future, self._lost}
            await asyncio.wait(waiting, timeout=limit, return_when=asyncio.FIRST_COMPLETED)
        except (aiohttp.ClientError, ConnectionError, RuntimeError) as exc:
            raise TransportError(f"cannot send {what} to Janus: {exc}") from None
        finally:
            self._pending.pop(transaction, None)
            if not future.done():
                future.cancel()
        if future.cancelled():
            if self._lost.done():
                raise TransportError(f"Janus went away during {what}: {self._lost.result()}")
            raise TransportError(f"Janus did not answer {what} within {limit:g} s")
        reply = future.result()
        if reply.get("janus") == "error":
            error = reply.get("error")
            error = error if isinstance(error, dict) else {}
            raise _error_from(error.get("code"), error.get("reason"), what)
        return reply

    async def attach(self, plugin: str, on_event: EventHandler) -> JanusHandle:
        """Attach a handle to ``plugin``; its events (no transaction) go to ``on_event``."""
        reply = await self.request(
            {"janus": "attach", "plugin": plugin}, what=f"attach to {plugin}"
        )
        data = reply.get("data")
        handle_id = positive_id(data.get("id")) if isinstance(data, dict) else None
        if handle_id is None:
            raise SignallingError("Janus answered 'attach' without a handle id")
        self._handlers[handle_id] = on_event
        return JanusHandle(self, handle_id)

    def forget(self, handle_id: int) -> None:
        """Stop routing events to a handle (it was detached or is being abandoned)."""
        self._handlers.pop(handle_id, None)

    # --- loss --------------------------------------------------------------------------

    @property
    def lost(self) -> bool:
        """True once the session cannot be used any more (see :meth:`wait_lost`)."""
        return self._lost.done()

    async def wait_lost(self) -> str:
        """Return, with the reason, once the socket closed or Janus dropped the session."""
        return await asyncio.shield(self._lost)

    def lose(self, reason: str, *, expected: bool = False) -> None:
        """Declare the session unusable (first reason wins); waiters of wait_lost return."""
        if not self._lost.done():
            if not expected:
                logger.warning("Janus session lost: %s", reason)
            self._lost.set_result(reason)

    # --- background tasks ----------------------------------------------------------------

    async def _read(self) -> None:
        reason = "Janus closed the WebSocket"
        try:
            async for message in self._ws:
                if message.type is aiohttp.WSMsgType.TEXT:
                    self._dispatch(message.data)
                elif message.type is aiohttp.WSMsgType.ERROR:
                    reason = f"the Janus WebSocket failed: {self._ws.exception()!r}"
                    break
                else:
                    self._malformed(f"an unexpected {message.type.name} WebSocket message")
        except (aiohttp.ClientError, ConnectionError) as exc:
            reason = f"the Janus WebSocket failed: {exc!r}"
        self.lose(reason)

    def _dispatch(self, text: str) -> None:
        try:
            message = json.loads(text)
        except (ValueError, RecursionError):
            self._malformed("a message that is not JSON (or nested too deeply)")
            return
        if not isinstance(message, dict) or not isinstance(message.get("janus"), str):
            self._malformed("a JSON message without a 'janus' field")
            return
        kind = message["janus"]
        transaction = message.get("transaction")
        pending = self._pending.get(transaction) if isinstance(transaction, str) else None
        if pending is not None:
            if kind == "ack" and not pending.ack_completes:
                return  # an asynchronous request was queued; its event follows
            if not pending.future.done():
                pending.future.set_result(message)
            return
        if kind == "timeout":
            self.lose("Janus expired the session (no keep-alive within its session timeout)")
            return
        sender = positive_id(message.get("sender"))
        handler = self._handlers.get(sender) if sender is not None else None
        if handler is None:
            logger.debug("Janus %r message for no handle of ours", kind)
            return
        try:
            handler(message)
        except Exception:
            # A handler bug must not end the reader: the session would die with it.
            logger.exception("handling a Janus %r event failed", kind)

    def _malformed(self, what: str) -> None:
        self.malformed += 1
        if self.malformed <= MAX_LOGGED_MALFORMED:
            logger.warning("ignored %s from Janus", what)

    async def _keep_alive(self, interval: float) -> None:
        while True:
            await asyncio.sleep(interval)
            try:
                await self.request(
                    {"janus": "keepalive"},
                    what="keep-alive",
                    ack_completes=True,
                    within=min(interval, self._transaction_timeout),
                )
            except (TransportError, AuthError) as exc:
                self.lose(f"keep-alive failed: {exc}")
                return

    # --- closing -----------------------------------------------------------------------

    async def close(self, within: float = CLOSE_DEADLINE) -> None:
        """Destroy the session (when Janus can still hear it), stop both tasks, close the socket.

        Idempotent, never raises, and done within ``within`` seconds (at least
        SOCKET_CLOSE_RESERVE): a Janus that stopped answering gets no more than that.
        """
        if self._close_task is None:
            self._close_task = asyncio.ensure_future(self._close(within))
        await asyncio.shield(self._close_task)

    async def _close(self, within: float) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + max(within, SOCKET_CLOSE_RESERVE)
        if self._keepalive is not None:
            self._keepalive.cancel()
            await asyncio.gather(self._keepalive, return_exceptions=True)
        goodbye = min(deadline - SOCKET_CLOSE_RESERVE - loop.time(), CLOSE_STEP_TIMEOUT)
        if self.session_id is not None and not self.lost and goodbye > 0:
            with contextlib.suppress(TransportError, AuthError):
                await self.request({"janus": "destroy"}, what="destroy", within=goodbye)
        self.lose("the session was closed", expected=True)
        try:
            # Cancelled at the deadline, aiohttp drops the connection without the handshake.
            async with asyncio.timeout(max(deadline - loop.time(), 0.05)):
                await self._ws.close()
        except (TimeoutError, aiohttp.ClientError, ConnectionError) as exc:
            logger.info("Janus WebSocket did not close cleanly: %r", exc)
        self._reader.cancel()
        await asyncio.gather(self._reader, return_exceptions=True)
        self._handlers.clear()


class JanusHandle:
    """One plugin handle of a :class:`JanusSession`."""

    def __init__(self, session: JanusSession, handle_id: int) -> None:
        self.session = session
        self.id = handle_id
        self._detached = False

    async def message(
        self,
        body: dict[str, Any],
        *,
        what: str,
        jsep: dict[str, str] | None = None,
        within: float | None = None,
    ) -> tuple[dict[str, Any], dict[str, Any] | None]:
        """Send ``body`` to the plugin; return its answer's data and JSEP (if any).

        A plugin error (``error_code`` in the answer) raises JanusError/AuthError.
        """
        request: dict[str, Any] = {"janus": "message", "body": body}
        if jsep is not None:
            request["jsep"] = jsep
        reply = await self.session.request(request, handle_id=self.id, what=what, within=within)
        plugindata = reply.get("plugindata")
        data = plugindata.get("data") if isinstance(plugindata, dict) else None
        if not isinstance(data, dict):
            raise SignallingError(f"Janus answered {what} without plugin data")
        if "error_code" in data or "error" in data:
            raise _error_from(data.get("error_code"), data.get("error"), what)
        answer = reply.get("jsep")
        return data, answer if isinstance(answer, dict) else None

    async def detach(self, within: float = CLOSE_STEP_TIMEOUT) -> None:
        """Detach the handle (best effort, at most ``within`` s); its events stop at once."""
        if self._detached:
            return
        self._detached = True
        self.session.forget(self.id)
        if self.session.lost or within <= 0:
            return
        with contextlib.suppress(TransportError, AuthError):
            await self.session.request(
                {"janus": "detach"}, handle_id=self.id, what="detach", within=within
            )
