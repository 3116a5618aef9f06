"""The device in a Janus VideoRoom: publisher handle and media, the room, talk-back.

One attempt (:meth:`JanusTransport.open`) is:

1. a :class:`~.session.JanusSession` (``info`` to learn the server's session timeout,
   then ``create``, keep-alives well inside it);
2. a ``janus.plugin.videoroom`` handle that joins ``room`` as a publisher with the
   device's display name, then ``configure``s with a fresh RTCPeerConnection's offer
   and applies the answer Janus sends back;
3. while connected: the room's publisher events folded into :class:`~.room.Room`
   and reported as participants, and one talk-back subscription per remote voice
   (:class:`~.talkback.TalkbackSubscriptions`);
4. on close: ``leave`` and ``detach`` of every handle at the same time, then
   ``destroy``, all within one deadline (CLOSE_DEADLINE), so even a Janus that stopped
   answering cannot hold a SIGTERM past systemd's TimeoutStopSec.

A room holds at most ``max_participants`` others (tracked, and heard through talk-back);
the rest are ignored, with one log line per connection.

The link is declared lost (and the supervisor reconnects) when the Janus session is
lost, Janus hangs up the publisher, or, as for WHIP, RTCP receiver reports stop or
a track ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Sequence
from typing import Any

import aiohttp

from alo_edge.errors import AuthError, SignallingError, TransportError
from alo_edge.media.passthrough import request_keyframe
from alo_edge.transport.base import Access, OutboundStats, PublishedTracks, ReportTarget
from alo_edge.transport.janus.room import MAX_PARTICIPANTS, Room
from alo_edge.transport.janus.session import (
    CLOSE_DEADLINE,
    CLOSE_STEP_TIMEOUT,
    CONNECT_TIMEOUT,
    SOCKET_CLOSE_RESERVE,
    JanusHandle,
    JanusSession,
    positive_id,
)
from alo_edge.transport.janus.talkback import VIDEOROOM, TalkbackSubscriptions
from alo_edge.transport.peer import PublishingPeer, sending_kinds
from alo_edge.transport.room import Participant, RoomListener
from alo_edge.transport.turn import IceAttempt, IcePlan

logger = logging.getLogger(__name__)


class JanusConnection:
    """The device in a VideoRoom: its publisher handle and connection, the room, talk-back.

    Owns the session, the publisher's media (a :class:`PublishingPeer`: RTCP liveness,
    ended tracks, track replacement with a keyframe) and the talk-back subscriptions.
    """

    def __init__(
        self,
        session: JanusSession,
        *,
        room: int,
        user_id: str,
        display: str,
        ice: IceAttempt,
        listener: RoomListener,
        talkback: bool,
        talkback_from: Sequence[str],
        liveness_timeout: float,
        clock: Callable[[], float],
        max_participants: int = MAX_PARTICIPANTS,
    ) -> None:
        self.session = session
        self.room = room
        self._user_id = user_id
        self._display = display
        self._ice = ice
        self._listener = listener
        self._liveness_timeout = liveness_timeout
        self._clock = clock
        self._publisher: JanusHandle | None = None
        self._media: PublishingPeer | None = None
        self._sending: set[str] = set()
        self._room = Room(max_participants)
        self._talkback = TalkbackSubscriptions(
            session,
            room=room,
            configuration=ice.configuration,
            listener=listener,
            enabled=talkback,
            wanted=frozenset(talkback_from),
            max_voices=max_participants,
        )
        self._crowd_logged = False
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
        own_id = positive_id(joined.get("id"))
        if joined.get("videoroom") != "joined" or own_id is None:
            raise SignallingError(f"Janus answered 'join' with {joined.get('videoroom')!r}")
        self._talkback.private_id = positive_id(joined.get("private_id"))
        self._room.joined(own_id, joined)
        self._log_crowd()

        self._media = PublishingPeer(self._ice, self._liveness_timeout, self._clock)
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
            own_id,
            len(self._room.remotes),
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
        for remote in self._room.remotes.values():
            if remote.publishing:
                self._listener.remote_stream_changed(remote.participant())
        for remote_id in list(self._room.remotes):
            self._talkback.update(remote_id, self._room.remotes.get(remote_id))

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
        change = self._room.apply(data)
        self._log_crowd()
        if not change.changed or not self._in_room:
            return  # before the room is entered, _enter_room reports the state it finds
        for participant in change.stream_changes:
            self._listener.remote_stream_changed(participant)
        for remote_id in change.touched:
            self._talkback.update(remote_id, self._room.remotes.get(remote_id))
        self._report_participants()

    def _log_crowd(self) -> None:
        if self._room.ignored and not self._crowd_logged:
            self._crowd_logged = True
            logger.warning(
                "Janus room %s has more than %d other participants (alo.max_participants): "
                "ignoring the rest",
                self.room,
                self._room.max_remotes,
            )

    def participants(self) -> list[Participant]:
        """This device first, then the others in the order they appeared."""
        own: list[Participant] = []
        if self._room.own_id is not None and self._in_room:
            own.append(
                Participant(
                    id=str(self._room.own_id),
                    user_id=self._user_id,
                    name=self._display,
                    is_publishing_audio="audio" in self._sending,
                    is_publishing_video="video" in self._sending,
                    is_current_user=True,
                    stream_id=str(self._room.own_id) if self._sending else None,
                )
            )
        return own + self._room.others()

    def _report_participants(self) -> None:
        if self._in_room:
            self._listener.participants_changed(self.participants())

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
    def report_target(self) -> ReportTarget | None:
        """Janus takes no device state reports."""
        return None

    async def close(self) -> None:
        """Leave the room, end talk-back, destroy the session; once, bounded, never raises."""
        if self._close_task is None:
            self._close_task = asyncio.ensure_future(self._close())
        await asyncio.shield(self._close_task)

    async def _close(self) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + CLOSE_DEADLINE
        was_in_room, self._in_room = self._in_room, False
        # The goodbyes go out together, each bounded by what is left before the socket
        # must close: a hung Janus costs the deadline once, not once per handle.
        goodbyes = min(deadline - SOCKET_CLOSE_RESERVE - loop.time(), CLOSE_STEP_TIMEOUT)
        await asyncio.gather(self._talkback.close(goodbyes), self._leave(deadline))
        try:
            await self.session.close(within=deadline - loop.time())
        finally:
            if self._media is not None:
                await self._media.close()
            if was_in_room:
                self._listener.participants_changed([])

    async def _leave(self, deadline: float) -> None:
        """``leave`` the room, then detach the publisher handle, before ``deadline``."""
        publisher = self._publisher
        if publisher is None:
            return
        loop = asyncio.get_running_loop()
        left = deadline - SOCKET_CLOSE_RESERVE - loop.time()
        if not self.session.lost and left > 0:
            with contextlib.suppress(TransportError, AuthError):
                await publisher.message(
                    {"request": "leave"}, what="leave", within=min(left, CLOSE_STEP_TIMEOUT)
                )
        await publisher.detach(within=deadline - SOCKET_CLOSE_RESERVE - loop.time())


class JanusTransport:
    """Publishes into a Janus VideoRoom; reports the room to the ``room`` listener of open().

    ``room`` is used when the access step names none. With ``talkback`` the audio of
    every other publisher (or only of those whose display name or id is in
    ``talkback_from``) is subscribed to and handed to the listener's ``remote_audio``.
    """

    def __init__(
        self,
        *,
        user_id: str,
        display: str,
        room: int | None = None,
        ice_servers: Sequence[dict[str, Any]] = (),
        talkback: bool = False,
        talkback_from: Sequence[str] = (),
        max_participants: int = MAX_PARTICIPANTS,
        liveness_timeout: float = 8.0,
        connect_timeout: float = CONNECT_TIMEOUT,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._user_id = user_id
        self._display = display or user_id
        self._room = room
        self._ice_servers = list(ice_servers)
        self._ice = IcePlan()
        self._talkback = talkback
        self._talkback_from = tuple(talkback_from)
        self._max_participants = max_participants
        self._liveness_timeout = liveness_timeout
        self._connect_timeout = connect_timeout
        self._clock = clock

    async def open(
        self,
        access: Access,
        tracks: PublishedTracks,
        http: aiohttp.ClientSession,
        room: RoomListener,
    ) -> JanusConnection:
        """Join the room at ``access.url`` as publisher of ``tracks``; return once media flows."""
        room_number = access.room if access.room is not None else self._room
        if room_number is None:
            # Only an access answer can get here (the config loader requires alo.room
            # otherwise): what a server said is retryable, never an exit 78.
            raise SignallingError(
                "access answer sends the device to Janus but names no 'room', and alo.room "
                "is not set (nor is the channel a room number)"
            )
        servers = list(access.ice_servers) or self._ice_servers
        ice = await self._ice.attempt(servers)
        session = await JanusSession.open(
            access.url, access.token, http, connect_within=self._connect_timeout
        )
        connection = JanusConnection(
            session,
            room=room_number,
            user_id=self._user_id,
            display=self._display,
            ice=ice,
            listener=room,
            talkback=self._talkback,
            talkback_from=self._talkback_from,
            liveness_timeout=self._liveness_timeout,
            clock=self._clock,
            max_participants=self._max_participants,
        )
        try:
            await connection.publish(tracks, self._connect_timeout)
        except BaseException:
            await connection.close()
            raise
        return connection
