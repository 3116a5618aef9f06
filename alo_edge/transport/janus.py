"""Janus VideoRoom publishing over the Janus WebSocket API, with participants and talk-back.

ALO's video service runs on the Janus WebRTC server. One attempt here is:

1. one WebSocket (subprotocol ``janus-protocol``) and one Janus session on it
   (``info`` to learn the server's session timeout, then ``create``);
2. a ``janus.plugin.videoroom`` handle that joins ``room`` as a publisher with the
   device's display name, then ``configure``s with a fresh RTCPeerConnection's offer
   and applies the answer Janus sends back;
3. while connected: keep-alives well inside the session timeout, the room's
   publisher events turned into participants, and one subscriber handle (its own
   receive-only RTCPeerConnection) per remote publisher whose audio is played as
   talk-back;
4. on close: ``leave``, ``detach`` every handle, ``destroy`` the session, each step
   bounded, so a dead server costs at most a couple of seconds.

Every request is a transaction with a timeout; an ``error`` reply (or a plugin
error) becomes a :class:`JanusError` carrying Janus's code and text, except refusals
of the token or room, which are :class:`~alo_edge.errors.AuthError`. Incoming
messages are size-bounded by the WebSocket, and anything malformed is logged and
dropped: the reader task outlives any message.

The link is declared lost (and the supervisor reconnects) when the WebSocket
closes, a keep-alive is not acknowledged, Janus expires the session, Janus hangs up
the publisher, or, as for WHIP, RTCP receiver reports stop or a track ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import secrets
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamTrack

from alo_edge.errors import AuthError, ConfigError, SignallingError, TransportError
from alo_edge.media.passthrough import request_keyframe
from alo_edge.session.access import Access
from alo_edge.transport.base import OutboundStats, PublishedTracks
from alo_edge.transport.ice import rtc_configuration_from_dicts
from alo_edge.transport.peer import PublishingPeer, sending_kinds
from alo_edge.transport.room import Participant, RoomListener

logger = logging.getLogger(__name__)

SUBPROTOCOL = "janus-protocol"
VIDEOROOM = "janus.plugin.videoroom"
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


def _positive_id(value: Any) -> int | None:
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
        try:
            async with asyncio.timeout(connect_within):
                ws = await http.ws_connect(
                    url, protocols=(SUBPROTOCOL,), max_msg_size=MAX_MESSAGE_BYTES
                )
        except aiohttp.WSServerHandshakeError as exc:
            if exc.status in (401, 403):
                raise AuthError(f"Janus {url} refused the WebSocket: HTTP {exc.status}") from None
            raise TransportError(f"Janus {url} refused the WebSocket: HTTP {exc.status}") from None
        except (aiohttp.ClientError, OSError) as exc:
            raise TransportError(f"Janus {url} unreachable: {exc}") from None
        except TimeoutError:
            raise TransportError(f"Janus {url} did not accept a WebSocket in time") from None
        session = cls(ws, token, transaction_timeout=transaction_timeout)
        try:
            if ws.protocol != SUBPROTOCOL:
                raise SignallingError(
                    f"Janus {url} did not accept the {SUBPROTOCOL!r} WebSocket subprotocol"
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
        session_id = _positive_id(data.get("id")) if isinstance(data, dict) else None
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
        handle_id = _positive_id(data.get("id")) if isinstance(data, dict) else None
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
        except ValueError:
            self._malformed("a message that is not JSON")
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
        sender = _positive_id(message.get("sender"))
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

    async def close(self) -> None:
        """Destroy the session (when Janus can still hear it), stop both tasks, close the socket.

        Idempotent, bounded (a few CLOSE_STEP_TIMEOUTs at most), never raises.
        """
        if self._close_task is None:
            self._close_task = asyncio.ensure_future(self._close())
        await asyncio.shield(self._close_task)

    async def _close(self) -> None:
        if self._keepalive is not None:
            self._keepalive.cancel()
            await asyncio.gather(self._keepalive, return_exceptions=True)
        if self.session_id is not None and not self.lost:
            with contextlib.suppress(TransportError, AuthError):
                await self.request({"janus": "destroy"}, what="destroy", within=CLOSE_STEP_TIMEOUT)
        self.lose("the session was closed", expected=True)
        try:
            async with asyncio.timeout(CLOSE_STEP_TIMEOUT):
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

    async def detach(self) -> None:
        """Detach the handle (best effort, bounded); its events stop at once."""
        if self._detached:
            return
        self._detached = True
        self.session.forget(self.id)
        if self.session.lost:
            return
        with contextlib.suppress(TransportError, AuthError):
            await self.session.request(
                {"janus": "detach"}, handle_id=self.id, what="detach", within=CLOSE_STEP_TIMEOUT
            )


# --- the room --------------------------------------------------------------------------


@dataclass
class _RemotePublisher:
    """What the room said about one other participant."""

    id: int
    display: str
    audio_mid: str | None = None
    video: bool = False

    @classmethod
    def from_janus(cls, entry: Any) -> _RemotePublisher | None:
        if not isinstance(entry, dict):
            return None
        publisher_id = _positive_id(entry.get("id"))
        if publisher_id is None:
            return None
        display = entry.get("display")
        remote = cls(publisher_id, display[:256] if isinstance(display, str) else "")
        remote.update_streams(entry.get("streams"))
        return remote

    def update_streams(self, streams: Any) -> None:
        self.audio_mid, self.video = None, False
        for stream in streams if isinstance(streams, list) else []:
            if not isinstance(stream, dict) or stream.get("disabled") is True:
                continue
            kind, mid = stream.get("type"), stream.get("mid")
            if kind == "audio" and self.audio_mid is None and isinstance(mid, str):
                self.audio_mid = mid
            elif kind == "video":
                self.video = True

    @property
    def publishing(self) -> bool:
        return self.audio_mid is not None or self.video

    def participant(self) -> Participant:
        return Participant(
            id=str(self.id),
            user_id=self.display or str(self.id),
            name=self.display or str(self.id),
            is_publishing_audio=self.audio_mid is not None,
            is_publishing_video=self.video,
            stream_id=str(self.id) if self.publishing else None,
        )


@dataclass
class _Subscription:
    """Talk-back from one remote publisher: a subscriber handle and its peer connection."""

    audio_mid: str
    task: asyncio.Task[None] | None = None
    handle: JanusHandle | None = None
    pc: RTCPeerConnection | None = None
    track: MediaStreamTrack | None = field(default=None, repr=False)


class JanusConnection:
    """The device in a VideoRoom: its publisher handle and connection, the room, talk-back.

    Owns the session, the publisher's media (a :class:`PublishingPeer`: RTCP liveness,
    ended tracks, track replacement with a keyframe) and one task per talk-back
    subscription.
    """

    def __init__(
        self,
        session: JanusSession,
        *,
        room: int,
        user_id: str,
        display: str,
        configuration: RTCConfiguration,
        listener: RoomListener,
        talkback: bool,
        talkback_from: Sequence[str],
        liveness_timeout: float,
        clock: Callable[[], float],
    ) -> None:
        self.session = session
        self.room = room
        self._user_id = user_id
        self._display = display
        self._configuration = configuration
        self._listener = listener
        self._talkback = talkback
        self._talkback_from = frozenset(talkback_from)
        self._liveness_timeout = liveness_timeout
        self._clock = clock
        self._publisher: JanusHandle | None = None
        self._media: PublishingPeer | None = None
        self._own_id: int | None = None
        self._private_id: int | None = None
        self._sending: set[str] = set()
        self._remotes: dict[int, _RemotePublisher] = {}
        #: True when the room reports passive attendees (``notify_joining``): a participant
        #: who unpublishes then stays listed until it leaves.
        self._attendees_reported = False
        self._subscriptions: dict[int, _Subscription] = {}
        #: Tasks releasing subscriptions that ended while connected (awaited by close()).
        self._ending: set[asyncio.Task[None]] = set()
        self._in_room = False
        self._close_task: asyncio.Task[None] | None = None

    # --- joining -----------------------------------------------------------------------

    async def publish(self, tracks: PublishedTracks, connect_timeout: float) -> None:
        """Join the room as publisher, send the offer with ``configure``, wait for media."""
        self._publisher = await self.session.attach(VIDEOROOM, self._on_publisher_event)
        joined, _ = await self._publisher.message(
            {"request": "join", "ptype": "publisher", "room": self.room, "display": self._display},
            what=f"join (room {self.room} as publisher)",
        )
        self._own_id = _positive_id(joined.get("id"))
        if joined.get("videoroom") != "joined" or self._own_id is None:
            raise SignallingError(f"Janus answered 'join' with {joined.get('videoroom')!r}")
        self._private_id = _positive_id(joined.get("private_id"))
        self._attendees_reported = isinstance(joined.get("attendees"), list)
        for entry in [*_listed(joined, "publishers"), *_listed(joined, "attendees")]:
            remote = _RemotePublisher.from_janus(entry)
            if remote is not None and remote.id != self._own_id:
                self._remotes[remote.id] = remote

        self._media = PublishingPeer(self._configuration, self._liveness_timeout, self._clock)
        # The publisher's connection only sends: talk-back arrives on subscriber connections.
        self._sending = sending_kinds(tracks)
        sdp = await self._media.create_offer(tracks, receive_talkback=False)
        offer = {"type": "offer", "sdp": sdp}
        configured, answer = await self._publisher.message(
            {"request": "configure"},
            jsep=offer,
            what="configure (publish the offer)",
        )
        if (
            answer is None
            or answer.get("type") != "answer"
            or not isinstance(answer.get("sdp"), str)
        ):
            raise SignallingError(
                f"Janus answered 'configure' without an SDP answer: {str(configured)[:200]}"
            )
        await self._media.apply_answer(answer["sdp"], sender="Janus")
        await self._media.wait_connected(connect_timeout)
        # A passthrough source is mid-GOP: Janus's first subscribers must not wait for an IDR.
        request_keyframe(tracks.video)
        logger.info(
            "published into Janus room %s as %r (participant %s, %d other(s) there)",
            self.room,
            self._display,
            self._own_id,
            len(self._remotes),
        )

    def _enter_room(self) -> None:
        """Start reporting the room and subscribing to talk-back.

        Called when the session starts watching the connection (the first
        :meth:`wait_lost`), that is right after it reported CONNECTED, so an
        application sees CONNECTED before the participants it joined.
        """
        if self._in_room or self._close_task is not None:
            return
        self._in_room = True
        self._report_participants()
        for remote in self._remotes.values():
            if remote.publishing:
                self._listener.remote_stream_changed(remote.participant())
        for remote_id in list(self._remotes):
            self._update_subscription(remote_id)

    # --- the room's events ---------------------------------------------------------------

    def _on_publisher_event(self, message: dict[str, Any]) -> None:
        kind = message.get("janus")
        if kind == "hangup":
            reason = message.get("reason")
            self.session.lose(f"Janus hung up the publisher: {str(reason)[:200]}")
        elif kind == "detached":
            self.session.lose("Janus detached the publisher handle")
        elif kind == "event":
            plugindata = message.get("plugindata")
            data = plugindata.get("data") if isinstance(plugindata, dict) else None
            if isinstance(data, dict):
                self._on_room_event(data)

    def _on_room_event(self, data: dict[str, Any]) -> None:
        if data.get("videoroom") == "destroyed":
            self.session.lose(f"Janus destroyed room {self.room}")
            return
        before = {rid: r.participant() for rid, r in self._remotes.items()}
        for entry in _listed(data, "publishers"):
            remote = _RemotePublisher.from_janus(entry)
            if remote is None or remote.id == self._own_id:
                continue
            known = self._remotes.setdefault(remote.id, remote)
            known.display = remote.display or known.display
            known.audio_mid, known.video = remote.audio_mid, remote.video
        # A passive attendee (rooms with notify_joining): listed, publishing nothing yet.
        joining = _RemotePublisher.from_janus(data.get("joining"))
        if joining is not None and joining.id != self._own_id:
            self._remotes.setdefault(joining.id, joining)
        unpublished = _positive_id(data.get("unpublished"))
        if unpublished is not None and unpublished in self._remotes:
            remote = self._remotes[unpublished]
            remote.audio_mid, remote.video = None, False
            if not self._attendees_reported:
                # Without attendee reports the room never says when they leave: forget them.
                self._remotes.pop(unpublished)
        for key in ("leaving", "kicked"):
            left = _positive_id(data.get(key))
            if left is not None:
                self._remotes.pop(left, None)
        after = {rid: r.participant() for rid, r in self._remotes.items()}
        if after == before or not self._in_room:
            return  # before the room is entered, _enter_room reports the state it finds
        for rid in before.keys() | after.keys():
            old, new = before.get(rid), after.get(rid)
            if new is None and old is not None and old.stream_id is not None:
                # Gone while publishing: its stream ended with it.
                new = dataclasses.replace(
                    old, is_publishing_audio=False, is_publishing_video=False, stream_id=None
                )
            flags_changed = old is None or new is None or _publishing(old) != _publishing(new)
            if new is not None and flags_changed and (old is not None or new.stream_id):
                self._listener.remote_stream_changed(new)
        for rid in before.keys() | after.keys():
            self._update_subscription(rid)
        self._report_participants()

    def participants(self) -> list[Participant]:
        """This device first, then the others in the order they appeared."""
        own: list[Participant] = []
        if self._own_id is not None and self._in_room:
            own.append(
                Participant(
                    id=str(self._own_id),
                    user_id=self._user_id,
                    name=self._display,
                    is_publishing_audio="audio" in self._sending,
                    is_publishing_video="video" in self._sending,
                    is_current_user=True,
                    stream_id=str(self._own_id) if self._sending else None,
                )
            )
        return own + [remote.participant() for remote in self._remotes.values()]

    def _report_participants(self) -> None:
        if self._in_room:
            self._listener.participants_changed(self.participants())

    # --- talk-back subscriptions ---------------------------------------------------------

    def _wants_talkback(self, remote: _RemotePublisher) -> bool:
        if not self._talkback or remote.audio_mid is None:
            return False
        wanted = self._talkback_from
        return not wanted or remote.display in wanted or str(remote.id) in wanted

    def _update_subscription(self, remote_id: int) -> None:
        """Subscribe to, resubscribe to or drop the talk-back audio of ``remote_id``."""
        if not self._in_room:
            return
        remote = self._remotes.get(remote_id)
        want = remote.audio_mid if remote is not None and self._wants_talkback(remote) else None
        current = self._subscriptions.get(remote_id)
        if current is not None and current.audio_mid != want:
            self._subscriptions.pop(remote_id)
            self._end_subscription(remote_id, current)
            current = None
        if want is not None and current is None:
            subscription = _Subscription(want)
            self._subscriptions[remote_id] = subscription
            subscription.task = asyncio.create_task(
                self._subscribe(remote_id, subscription), name=f"alo-edge talk-back {remote_id}"
            )

    async def _subscribe(self, feed: int, subscription: _Subscription) -> None:
        try:
            subscription.handle = await self.session.attach(
                VIDEOROOM, lambda message: self._on_subscriber_event(feed, message)
            )
            body: dict[str, Any] = {
                "request": "join",
                "ptype": "subscriber",
                "room": self.room,
                "streams": [{"feed": feed, "mid": subscription.audio_mid}],
            }
            if self._private_id is not None:
                body["private_id"] = self._private_id
            _, offer = await subscription.handle.message(
                body, what=f"join (subscribe to the audio of {feed})"
            )
            if (
                offer is None
                or offer.get("type") != "offer"
                or not isinstance(offer.get("sdp"), str)
            ):
                raise SignallingError(f"Janus sent no SDP offer for the audio of {feed}")
            pc = subscription.pc = RTCPeerConnection(configuration=self._configuration)
            arrived: asyncio.Future[MediaStreamTrack] = asyncio.get_running_loop().create_future()

            def on_track(track: MediaStreamTrack) -> None:
                if track.kind == "audio" and not arrived.done():
                    arrived.set_result(track)

            pc.on("track", on_track)
            try:
                await pc.setRemoteDescription(RTCSessionDescription(sdp=offer["sdp"], type="offer"))
                await pc.setLocalDescription(await pc.createAnswer())
            except Exception as exc:  # aiortc raises ValueError, KeyError ... on bad SDP
                raise SignallingError(f"Janus sent a malformed SDP offer: {exc!r}") from None
            await subscription.handle.message(
                {"request": "start"},
                jsep={"type": "answer", "sdp": pc.localDescription.sdp},
                what=f"start (the audio of {feed})",
            )
            async with asyncio.timeout(TRANSACTION_TIMEOUT):
                subscription.track = await arrived
            logger.info("talk-back: subscribed to the audio of participant %s", feed)
            self._listener.remote_audio(str(feed), subscription.track)
        except (TransportError, AuthError, TimeoutError) as exc:
            # Talk-back from one participant failing must not cost the device its publication.
            logger.warning("talk-back from participant %s unavailable: %s", feed, exc)
        except Exception:
            logger.exception("talk-back subscription to participant %s failed", feed)

    def _on_subscriber_event(self, feed: int, message: dict[str, Any]) -> None:
        if message.get("janus") == "hangup":
            logger.info("Janus hung up the talk-back subscription to %s", feed)

    def _end_subscription(self, feed: int, subscription: _Subscription) -> None:
        # Unsubscribing is itself background work: it belongs to the subscription's task.
        previous = subscription.task

        async def end() -> None:
            if previous is not None:
                previous.cancel()
                await asyncio.gather(previous, return_exceptions=True)
            await self._release(feed, subscription)

        subscription.task = asyncio.create_task(end(), name=f"alo-edge talk-back end {feed}")
        self._ending.add(subscription.task)
        subscription.task.add_done_callback(self._ending.discard)

    async def _release(self, feed: int, subscription: _Subscription) -> None:
        if subscription.track is not None:
            self._listener.remote_audio(str(feed), None)
        if subscription.handle is not None:
            await subscription.handle.detach()
        if subscription.pc is not None:
            await subscription.pc.close()

    # --- the Connection protocol ---------------------------------------------------------

    async def wait_lost(self) -> str:
        """Return the reason once Janus or the media path is gone (see the module doc)."""
        assert self._media is not None
        self._enter_room()
        watchers = [
            asyncio.ensure_future(self.session.wait_lost()),
            asyncio.ensure_future(self._media.wait_lost()),
        ]
        try:
            done, _ = await asyncio.wait(watchers, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for watcher in watchers:
                watcher.cancel()
            await asyncio.gather(*watchers, return_exceptions=True)
        return str(next(iter(done)).result())

    async def replace_tracks(self, tracks: PublishedTracks) -> None:
        """Send other tracks on the same publisher connection (no renegotiation)."""
        if self._media is not None:
            await self._media.replace_tracks(tracks)
        sending = sending_kinds(tracks)
        if sending != self._sending:
            self._sending = sending
            self._report_participants()

    async def outbound_stats(self) -> list[OutboundStats]:
        """What the publisher connection sent (the status endpoint shows it)."""
        return [] if self._media is None else await self._media.outbound_stats()

    @property
    def events_target(self) -> tuple[str, str] | None:
        """Janus takes no device state reports."""
        return None

    async def close(self) -> None:
        """Leave the room, end talk-back, destroy the session; once, bounded, never raises."""
        if self._close_task is None:
            self._close_task = asyncio.ensure_future(self._close())
        await asyncio.shield(self._close_task)

    async def _close(self) -> None:
        was_in_room, self._in_room = self._in_room, False
        subscriptions, self._subscriptions = self._subscriptions, {}
        tasks = [s.task for s in subscriptions.values() if s.task is not None]
        for task in tasks:
            task.cancel()
        # Subscriptions already ending finish their own (bounded) release.
        await asyncio.gather(*tasks, *self._ending, return_exceptions=True)
        for feed, subscription in subscriptions.items():
            await self._release(feed, subscription)
        if self._publisher is not None and not self.session.lost:
            with contextlib.suppress(TransportError, AuthError):
                await self._publisher.message(
                    {"request": "leave"}, what="leave", within=CLOSE_STEP_TIMEOUT
                )
        if self._publisher is not None:
            await self._publisher.detach()
        await self.session.close()
        if self._media is not None:
            await self._media.close()
        if was_in_room:
            self._listener.participants_changed([])


def _listed(data: dict[str, Any], key: str) -> list[Any]:
    value = data.get(key)
    return value if isinstance(value, list) else []


def _publishing(participant: Participant) -> tuple[bool, bool]:
    return participant.is_publishing_audio, participant.is_publishing_video


class JanusTransport:
    """Publishes into a Janus VideoRoom; reports the room to ``listener``.

    ``room`` is used when the access step names none. With ``talkback`` the audio of
    every other publisher (or only of those whose display name or id is in
    ``talkback_from``) is subscribed to and handed to ``listener.remote_audio``.
    """

    def __init__(
        self,
        *,
        user_id: str,
        display: str,
        room: int | None = None,
        ice_servers: Sequence[dict[str, Any]] = (),
        listener: RoomListener | None = None,
        talkback: bool = False,
        talkback_from: Sequence[str] = (),
        liveness_timeout: float = 8.0,
        connect_timeout: float = CONNECT_TIMEOUT,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._user_id = user_id
        self._display = display or user_id
        self._room = room
        self._ice_servers = list(ice_servers)
        self._listener = listener or RoomListener()
        self._talkback = talkback
        self._talkback_from = tuple(talkback_from)
        self._liveness_timeout = liveness_timeout
        self._connect_timeout = connect_timeout
        self._clock = clock

    async def open(
        self, access: Access, tracks: PublishedTracks, http: aiohttp.ClientSession
    ) -> JanusConnection:
        """Join the room at ``access.url`` as publisher of ``tracks``; return once media flows."""
        room = access.room if access.room is not None else self._room
        if room is None:
            raise ConfigError("is required: the channel is not a number", key="alo.room")
        servers = list(access.ice_servers) or self._ice_servers
        configuration = rtc_configuration_from_dicts(servers)
        session = await JanusSession.open(
            access.url, access.token, http, connect_within=self._connect_timeout
        )
        connection = JanusConnection(
            session,
            room=room,
            user_id=self._user_id,
            display=self._display,
            configuration=configuration,
            listener=self._listener,
            talkback=self._talkback,
            talkback_from=self._talkback_from,
            liveness_timeout=self._liveness_timeout,
            clock=self._clock,
        )
        try:
            await connection.publish(tracks, self._connect_timeout)
        except BaseException:
            await connection.close()
            raise
        return connection
