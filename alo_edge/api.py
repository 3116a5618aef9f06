"""The public SDK face: ``AloVideo`` and friends, mirroring ALO's browser Video SDK.

Names are snake_case; event names, state values and payload keys stay as ALO spells
them (``onConnectionChange``, ``pendingRestartSeconds``) since users match on them.

This face chooses nothing: the transports (WHIP, Janus) and the capture devices are
handed in by whoever composes the device (``alo_edge.app``; a test, its fakes).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import aiohttp
from aiortc.mediastreams import MediaStreamTrack

from alo_edge.config import Config
from alo_edge.errors import (
    AloEdgeError,
    ConfigError,
    DeviceMissingError,
    HardwareError,
    SignallingError,
)
from alo_edge.events import Event, EventTarget
from alo_edge.media.base import AudioSink, AudioSource, MediaSource
from alo_edge.media.talkback import TalkbackPlayer
from alo_edge.media.talkback_mixer import TalkbackMixer
from alo_edge.session.backoff import ReconnectPolicy
from alo_edge.session.clock import Clock, SystemClock
from alo_edge.session.credentials import Credentials, TokenFileCredentials
from alo_edge.session.states import ConnectionState
from alo_edge.session.supervisor import Supervisor
from alo_edge.transport.access import exchange_access
from alo_edge.transport.base import Access, Connection, PublishedTracks, Transport
from alo_edge.transport.http import map_transport_errors
from alo_edge.transport.origin import OriginPolicy, device_session
from alo_edge.transport.room import Participant, RoomListener

logger = logging.getLogger(__name__)

TokenProvider = Callable[[], str]
S = ConnectionState


@dataclass(frozen=True)
class VideoUser:
    """The identity the device signs in as (ALO's ``user``)."""

    id: str
    name: str = ""
    device_id: str = ""

    def to_dict(self) -> dict[str, str]:
        """The user as ALO's event payloads carry it."""
        user = {"id": self.id, "name": self.name or self.id}
        if self.device_id:
            user["deviceId"] = self.device_id
        return user


@dataclass(frozen=True)
class VideoChannel:
    """A channel the device publishes into."""

    name: str


class AloVideo:
    """One device's session with the ALO video service.

    ``connect(channel)`` starts a keep-alive loop that never gives up on its own;
    progress is reported through ``events``:

    - ``onConnectionChange`` {state, user, stateMessage, message?, pendingRestartSeconds?,
      retryCount?} on every state change, and every second while RECONNECT_PENDING;
    - ``onDisconnect`` {state, user, message?} when a session ends (ERROR or DISCONNECTED);
    - ``onPublishedStreamChange`` {user, isPublishingVideo, isPublishingAudio, inputDeviceIds,
      audioMode, isAudioMuted} with what is actually sent, on CONNECTED and on every publish
      or mute change while connected; in a Janus room also for each remote participant
      {user, participantId, streamId, isPublishingVideo, isPublishingAudio, isCurrentUser};
    - ``onParticipantsChanged`` {user, participants} (Janus) on every join, leave, publish
      or unpublish in the room and local mute change, each participant as
      :meth:`Participant.to_dict` has it; ``[]`` once the connection left the room;
    - ``onDeviceListUpdate`` {user, devices, warning?} once the capture devices are open and
      when one misbehaves (a missing microphone, a camera restarted after a stall).

    ``user_auth_token`` is the bearer: a string, a callable read on every attempt (a token
    file), or a :class:`~alo_edge.session.credentials.Credentials` that fetches and renews
    its own (``alo.token_url``); it is started and stopped with the session.

    ``transports`` maps the names an access step may choose (``"whip"``, ``"janus"``) to
    the transports that open connections; ``alo_edge.app.build_transports`` builds the
    standard ones from a config.
    """

    CONNECTION_STATUS_NOT_CONNECTED = S.NOT_CONNECTED.value
    CONNECTION_STATUS_ACQUIRING_ACCESS = S.ACQUIRING_ACCESS.value
    CONNECTION_STATUS_CONNECTING = S.CONNECTING.value
    CONNECTION_STATUS_CONNECTED = S.CONNECTED.value
    CONNECTION_STATUS_DISCONNECTED = S.DISCONNECTED.value
    CONNECTION_STATUS_ERROR = S.ERROR.value
    CONNECTION_STATUS_RECONNECT_PENDING = S.RECONNECT_PENDING.value
    VIDEO_STATE_AVAILABLE = "AVAILABLE"
    VIDEO_STATE_UNAVAILABLE = "UNAVAILABLE"

    def __init__(
        self,
        user: VideoUser,
        user_auth_token: str | TokenProvider | Credentials,
        *,
        config: Config,
        video_source: MediaSource | None = None,
        audio_source: AudioSource | None = None,
        audio_sink: AudioSink | None = None,
        transports: Mapping[str, Transport] | None = None,
        clock: Clock | None = None,
        random_source: Callable[[], float] = random.random,
    ) -> None:
        self.user = user
        self.events = EventTarget()
        self._config = config
        self._clock = clock or SystemClock()
        self._credentials: Credentials
        if isinstance(user_auth_token, str):
            token = user_auth_token
            self._credentials = TokenFileCredentials(lambda: token, self._clock, source="static")
        elif callable(user_auth_token):
            self._credentials = TokenFileCredentials(user_auth_token, self._clock)
        else:
            self._credentials = user_auth_token
        #: The bearer the current attempt took (a 401 names it to the credentials).
        self._bearer: str | None = None
        self._video_source = video_source
        self._audio_source = audio_source
        # Talk-back is on when there is somewhere to play it: audio is then offered sendrecv.
        self._talkback = TalkbackPlayer(audio_sink) if audio_sink is not None else None
        # A Janus room brings one voice per participant: they are mixed onto the same sink.
        self._room_audio = TalkbackMixer(audio_sink) if audio_sink is not None else None
        self._participants: list[Participant] = []
        self._muted = False
        self._connected_at: float | None = None
        self._send_video = video_source is not None
        self._send_audio = audio_source is not None
        self._media_started = False
        self._device_warning: str | None = None
        self.room_listener = RoomListener(
            self._participants_changed, self._remote_stream_changed, self._voice
        )
        """Where a room transport (Janus) reports participants and talk-back voices."""
        self._transports = dict(transports or {})
        #: Which origin each bearer may go to; every request of the session obeys it.
        self.origin_policy = OriginPolicy(allow_insecure=config.network.allow_insecure)
        self._http: aiohttp.ClientSession | None = None
        self._channel: VideoChannel | None = None
        self._supervisor = Supervisor(
            acquire=self._acquire,
            open_connection=self._open,
            policy=ReconnectPolicy(config.reconnect, random_source),
            clock=self._clock,
            on_state=self._on_state,
            renew_refused=self._renew_refused,
        )

    @property
    def connection_state(self) -> str:
        """One of the ``CONNECTION_STATUS_*`` values; changes fire ``onConnectionChange``."""
        return self._supervisor.state.value

    @property
    def media_sources(self) -> list[MediaSource]:
        """The capture sources this session publishes from (the caller owns their lifetime)."""
        return [s for s in (self._video_source, self._audio_source) if s is not None]

    @property
    def published_sources(self) -> list[MediaSource]:
        """The sources whose tracks are being sent now (see :meth:`publish_stream`)."""
        sources = (
            (self._video_source, self._send_video),
            (self._audio_source, self._send_audio),
        )
        return [source for source, sending in sources if source is not None and sending]

    @property
    def connected_at(self) -> float | None:
        """When (clock's monotonic seconds) the session last became CONNECTED."""
        return self._connected_at

    @property
    def channel(self) -> VideoChannel | None:
        """The channel passed to :meth:`connect`, until :meth:`disconnect`."""
        return self._channel

    @property
    def talkback(self) -> TalkbackPlayer | None:
        """The talk-back player (None without an audio sink); its sink is the caller's."""
        return self._talkback

    @property
    def connection(self) -> Connection | None:
        """The live connection while CONNECTED (its transport's stats), else None."""
        return self._supervisor.connection

    @property
    def supervisor_task(self) -> asyncio.Task[None] | None:
        """The keep-alive loop's task; it ends only on a fatal error or disconnect()."""
        return self._supervisor.task

    async def connect(self, channel: str | VideoChannel) -> VideoChannel:
        """Start publishing into ``channel`` and keep the session alive until disconnect().

        Returns at once; the connection's progress arrives as ``onConnectionChange``.
        Each attempt first opens the capture devices that are not open yet: a camera
        that cannot be opened (not plugged in yet) is an ERROR with the reconnect
        backoff and an ``onDeviceListUpdate`` warning, retried until it appears; a
        missing microphone leaves video only, with a warning.
        """
        if isinstance(channel, str):
            channel = VideoChannel(channel)
        if self._channel is not None and self._channel != channel:
            raise ConfigError(
                f"already connected to {self._channel.name!r}; disconnect() first", key="channel"
            )
        self._channel = channel
        if self._http is None:
            self._http = device_session(self.origin_policy)
        await self._credentials.start()
        self._supervisor.start()
        return channel

    async def publish_stream(self, send_video: bool = True, send_audio: bool = True) -> None:
        """Choose what is sent; applies to the live connection without reconnecting."""
        self._send_video = send_video and self._video_source is not None
        self._send_audio = send_audio and self._audio_source is not None
        connection = self._supervisor.connection
        if connection is not None:
            await connection.replace_tracks(self._tracks())
            self._report_published()

    async def unpublish_stream(self) -> None:
        """Stop sending media while staying in the channel."""
        await self.publish_stream(send_video=False, send_audio=False)

    @property
    def last_error(self) -> AloEdgeError | None:
        """Why the last connection attempt failed; None once connected again."""
        return self._supervisor.last_error

    @property
    def muted(self) -> bool:
        """True while the microphone sends silence."""
        return self._muted

    async def set_muted(self, muted: bool) -> None:
        """Mute or unmute the microphone (the audio track stays, carrying silence)."""
        self._muted = muted
        if self._audio_source is not None:
            self._audio_source.set_muted(muted)
        if self._supervisor.connection is not None:
            self._report_published()  # a push-to-talk press shows in the events

    @property
    def participants(self) -> list[Participant]:
        """Who is in the room now (Janus; this device first); empty when not in a room."""
        return list(self._participants)

    async def set_participant_muted(self, participant_id: str, muted: bool) -> None:
        """Mute or unmute a remote participant's talk-back on this device's speaker only.

        The setting outlives the participant's reconnects (it is kept by id) and fires
        ``onParticipantsChanged`` with ``isMutedLocally`` updated.
        """
        if self._room_audio is None:
            raise ConfigError("talk-back is off: set audio.playback = true", key="audio.playback")
        self._room_audio.set_muted(participant_id, muted)
        self._participants_changed(self._participants)

    def reconnect_now(self) -> None:
        """Reconnect at once: skip a pending backoff wait, or replace a live connection."""
        self._supervisor.reconnect_now()

    async def disconnect(self) -> None:
        """Leave the channel (the server is told), stop retrying, release resources."""
        await self._supervisor.stop()
        await self._credentials.stop()
        if self._talkback is not None:
            await self._talkback.stop()
        if self._room_audio is not None:
            await self._room_audio.stop()
        self._channel = None
        if self._http is not None:
            await self._http.close()
            self._http = None

    def report_device_change(self, warning: str | None = None) -> None:
        """Fire ``onDeviceListUpdate`` with the devices in use and, if given, what went wrong."""
        devices = [{"kind": s.kind, "deviceId": s.device_id} for s in self.media_sources]
        detail: dict[str, Any] = {"user": self.user.to_dict(), "devices": devices}
        if warning is not None:
            detail["warning"] = warning
        self.events.dispatch_event(Event("onDeviceListUpdate", detail))

    async def _start_media(self) -> None:
        # Devices open here, before the first offer, so what is offered is what works. A
        # camera that cannot be opened is waited for (DeviceMissingError: the supervisor
        # retries with backoff); a door without its microphone is still worth seeing, so
        # a missing microphone only costs the audio.
        warning = None
        try:
            if self._video_source is not None:
                await self._video_source.start()
            if self._audio_source is not None:
                try:
                    await self._audio_source.start()
                except HardwareError as exc:
                    if self._video_source is None:
                        raise
                    self._audio_source.stop()
                    self._audio_source, self._send_audio = None, False
                    warning = f"{exc}; publishing video only"
                    logger.warning("%s", warning)
        except HardwareError as exc:
            missing = f"{exc}; waiting for it (retrying with backoff)"
            if missing != self._device_warning:  # once per distinct reason, not per retry
                self._device_warning = missing
                logger.warning("%s", missing)
                self.report_device_change(missing)
            raise DeviceMissingError(str(exc)) from exc
        self._media_started = True
        self._device_warning = None
        self.report_device_change(warning)

    def _report_published(self) -> None:
        published = {source.kind: source.device_id for source in self.published_sources}
        detail = {
            "user": self.user.to_dict(),
            "isPublishingVideo": "video" in published,
            "isPublishingAudio": "audio" in published,
            "inputDeviceIds": published,
            "audioMode": self._config.audio.mode,
            "isAudioMuted": self._muted,
        }
        self.events.dispatch_event(Event("onPublishedStreamChange", detail))

    def _participants_changed(self, participants: Sequence[Participant]) -> None:
        muted = self._room_audio.is_muted if self._room_audio is not None else lambda _: False
        self._participants = [
            dataclasses.replace(p, is_muted_locally=not p.is_current_user and muted(p.id))
            for p in participants
        ]
        detail = {
            "user": self.user.to_dict(),
            "participants": [p.to_dict() for p in self._participants],
        }
        self.events.dispatch_event(Event("onParticipantsChanged", detail))

    def _remote_stream_changed(self, participant: Participant) -> None:
        detail = {
            "user": {"id": participant.user_id, "name": participant.name},
            "participantId": participant.id,
            "streamId": participant.stream_id,
            "isPublishingVideo": participant.is_publishing_video,
            "isPublishingAudio": participant.is_publishing_audio,
            "isCurrentUser": False,
        }
        self.events.dispatch_event(Event("onPublishedStreamChange", detail))

    def _voice(self, participant_id: str, track: MediaStreamTrack | None) -> None:
        if self._room_audio is None:
            return
        if track is None:
            self._room_audio.remove(participant_id)
        else:
            self._room_audio.add(participant_id, track)

    def _tracks(self) -> PublishedTracks:
        video = self._video_source.track if self._video_source and self._send_video else None
        audio = self._audio_source.track if self._audio_source and self._send_audio else None
        return PublishedTracks(
            video=video,
            audio=audio,
            offer_video=self._video_source is not None,
            offer_audio=self._audio_source is not None,
            on_remote_audio=self._talkback.play if self._talkback is not None else None,
        )

    async def _acquire(self) -> Access:
        """ACQUIRING_ACCESS for one attempt: the devices (opened once), the bearer (never an
        expired one), then where to publish."""
        assert self._http is not None
        assert self._channel is not None
        if not self._media_started:
            await self._start_media()
        self._bearer = token = await self._credentials.bearer()
        alo = self._config.alo
        if not alo.access_url:
            if not alo.url:
                raise ConfigError("is required when alo.access_url is not set", key="alo.url")
            with map_transport_errors("alo.url"):
                # The device token is for the configured server's origin, and no other.
                self.origin_policy.issue(token, alo.url, what="alo.url")
            return Access(alo.transport, alo.url, token)
        body = {"user": self.user.to_dict(), "channel": self._channel.name}
        return await exchange_access(alo.access_url, body, token, self._http, self.origin_policy)

    async def _renew_refused(self) -> bool:
        """A server answered 401: a fresh bearer now, when the credentials can get one."""
        return self._bearer is not None and await self._credentials.refused(self._bearer)

    async def _open(self, access: Access) -> Connection:
        assert self._http is not None
        transport = self._transports.get(access.transport)
        if transport is None and self._config.alo.access_url:
            # The access answer chose it: a server's word, so retryable.
            raise SignallingError(
                f"access answer names transport {access.transport!r}, which this device "
                "was not given"
            )
        if transport is None:
            raise ConfigError(
                f"no transport named {access.transport!r} was given to AloVideo "
                "(alo_edge.app.build_transports builds 'whip' and 'janus')",
                key="alo.transport",
            )
        return await transport.open(access, self._tracks(), self._http, self.room_listener)

    def _on_state(self, state: ConnectionState, detail: dict[str, Any]) -> None:
        if state is S.CONNECTED:
            self._connected_at = self._clock.monotonic()
        payload = {"state": state.value, "user": self.user.to_dict(), **detail}
        self.events.dispatch_event(Event("onConnectionChange", payload))
        if state is S.CONNECTED:
            self._report_published()
        if state in (S.ERROR, S.DISCONNECTED):
            ended: dict[str, Any] = {"state": state.value, "user": self.user.to_dict()}
            if "message" in detail:
                ended["message"] = detail["message"]
            self.events.dispatch_event(Event("onDisconnect", ended))


__all__ = ["AloVideo", "Participant", "TokenProvider", "VideoChannel", "VideoUser"]
