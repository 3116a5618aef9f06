"""Talk-back in a VideoRoom: one subscriber handle and receive-only peer per remote voice.

Each remote publisher whose audio is wanted gets a :class:`_Subscription`: a
subscriber handle on the same Janus session (joined with the publisher's
``private_id``), its own RTCPeerConnection answering Janus's offer, and the audio
track that arrives on it, handed to the room listener as that participant's voice.
A subscription failing costs only that voice, never the publication. At most
``max_voices`` are subscribed at once (one log line when a voice is left out), and
closing detaches every handle at the same time, so leaving a room of sixteen voices
takes one round trip, not sixteen.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import Any

from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamTrack

from alo_edge.errors import AuthError, SignallingError, TransportError
from alo_edge.transport.janus.room import MAX_PARTICIPANTS, RemotePublisher
from alo_edge.transport.janus.session import (
    CLOSE_STEP_TIMEOUT,
    TRANSACTION_TIMEOUT,
    JanusHandle,
    JanusSession,
)
from alo_edge.transport.room import RoomListener

logger = logging.getLogger(__name__)

VIDEOROOM = "janus.plugin.videoroom"


@dataclass
class _Subscription:
    """Talk-back from one remote publisher: a subscriber handle and its peer connection."""

    audio_mid: str
    task: asyncio.Task[None] | None = None
    handle: JanusHandle | None = None
    pc: RTCPeerConnection | None = None
    track: MediaStreamTrack | None = field(default=None, repr=False)


class TalkbackSubscriptions:
    """The talk-back subscriptions of one publisher in ``room``; owns one task per voice.

    ``wanted`` names the participants to hear (display names or ids; empty: everyone);
    with ``enabled`` false nothing is subscribed; at most ``max_voices`` at once.
    :meth:`close` ends them all.
    """

    def __init__(
        self,
        session: JanusSession,
        *,
        room: int,
        configuration: RTCConfiguration,
        listener: RoomListener,
        enabled: bool,
        wanted: frozenset[str],
        max_voices: int = MAX_PARTICIPANTS,
    ) -> None:
        self._session = session
        self._room = room
        self._configuration = configuration
        self._listener = listener
        self._enabled = enabled
        self._wanted = wanted
        self._max_voices = max_voices
        #: Voices left out because ``max_voices`` were subscribed (logged the first time).
        self.left_out = 0
        self._subscriptions: dict[int, _Subscription] = {}
        #: Tasks releasing subscriptions that ended while connected (awaited by close()).
        self._ending: set[asyncio.Task[None]] = set()
        #: The publisher's ``private_id`` from its join answer (subscribers present it).
        self.private_id: int | None = None

    def _wants(self, remote: RemotePublisher) -> bool:
        if not self._enabled or remote.audio_mid is None:
            return False
        return not self._wanted or remote.display in self._wanted or str(remote.id) in self._wanted

    def update(self, remote_id: int, remote: RemotePublisher | None) -> None:
        """Subscribe to, resubscribe to or drop the talk-back audio of ``remote_id``."""
        want = remote.audio_mid if remote is not None and self._wants(remote) else None
        current = self._subscriptions.get(remote_id)
        if current is not None and current.audio_mid != want:
            self._subscriptions.pop(remote_id)
            self._end(remote_id, current)
            current = None
        if want is not None and current is None:
            if len(self._subscriptions) >= self._max_voices:
                self.left_out += 1
                if self.left_out == 1:
                    logger.warning(
                        "talk-back: %d voices subscribed, the most alo.max_participants "
                        "allows; not subscribing to participant %s or any more",
                        len(self._subscriptions),
                        remote_id,
                    )
                return
            subscription = _Subscription(want)
            self._subscriptions[remote_id] = subscription
            subscription.task = asyncio.create_task(
                self._subscribe(remote_id, subscription), name=f"alo-edge talk-back {remote_id}"
            )

    async def _subscribe(self, feed: int, subscription: _Subscription) -> None:
        try:
            subscription.handle = await self._session.attach(
                VIDEOROOM, lambda message: _on_subscriber_event(feed, message)
            )
            body: dict[str, Any] = {
                "request": "join",
                "ptype": "subscriber",
                "room": self._room,
                "streams": [{"feed": feed, "mid": subscription.audio_mid}],
            }
            if self.private_id is not None:
                body["private_id"] = self.private_id
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

    def _end(self, feed: int, subscription: _Subscription) -> None:
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

    async def _release(
        self, feed: int, subscription: _Subscription, within: float = CLOSE_STEP_TIMEOUT
    ) -> None:
        if subscription.track is not None:
            self._listener.remote_audio(str(feed), None)
        try:
            if subscription.handle is not None:
                await subscription.handle.detach(within)
        finally:
            # Local, and never skipped: even when Janus did not answer (or the wait for
            # it was cancelled), the peer connection's sockets and tasks are released.
            if subscription.pc is not None:
                await subscription.pc.close()

    async def close(self, within: float = CLOSE_STEP_TIMEOUT) -> None:
        """End every subscription: each handle detached at the same time, within ``within``.

        Subscriptions already ending finish alongside (each within CLOSE_STEP_TIMEOUT),
        so the whole takes one bounded round trip plus the local closing, however many
        voices there were.
        """
        subscriptions, self._subscriptions = self._subscriptions, {}
        tasks = [s.task for s in subscriptions.values() if s.task is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await asyncio.gather(
            *self._ending,
            *(self._release(feed, s, within) for feed, s in subscriptions.items()),
            return_exceptions=True,
        )


def _on_subscriber_event(feed: int, message: dict[str, Any]) -> None:
    if message.get("janus") == "hangup":
        logger.info("Janus hung up the talk-back subscription to %s", feed)
