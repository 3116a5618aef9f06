"""The public SDK face: ``AloVideo`` and friends, mirroring ALO's browser Video SDK.

Names are snake_case; event names, state values and payload keys stay as ALO spells
them (``onConnectionChange``, ``pendingRestartSeconds``) since users match on them.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp

from alo_edge.config import Config
from alo_edge.errors import AloEdgeError, ConfigError
from alo_edge.events import Event, EventTarget
from alo_edge.media.base import MediaSource
from alo_edge.session.access import Access, acquire_access
from alo_edge.session.backoff import ReconnectPolicy
from alo_edge.session.clock import Clock, SystemClock
from alo_edge.session.states import ConnectionState
from alo_edge.session.supervisor import Supervisor
from alo_edge.transport.base import Connection, PublishedTracks, Transport
from alo_edge.transport.whip import WhipTransport

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
    - ``onDisconnect`` {state, user, message?} when a session ends (ERROR or DISCONNECTED).
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
        user_auth_token: str | TokenProvider,
        *,
        config: Config,
        video_source: MediaSource | None = None,
        audio_source: MediaSource | None = None,
        transports: Mapping[str, Transport] | None = None,
        clock: Clock | None = None,
        random_source: Callable[[], float] = random.random,
    ) -> None:
        self.user = user
        self.events = EventTarget()
        self._config = config
        self._token: TokenProvider = (
            (lambda: user_auth_token) if isinstance(user_auth_token, str) else user_auth_token
        )
        self._video_source = video_source
        self._audio_source = audio_source
        self._muted = False
        self._connected_at: float | None = None
        self._send_video = video_source is not None
        self._send_audio = audio_source is not None
        self._clock = clock or SystemClock()
        self._transports = transports or {"whip": _default_whip(config)}
        self._http: aiohttp.ClientSession | None = None
        self._channel: VideoChannel | None = None
        self._supervisor = Supervisor(
            acquire=self._acquire,
            open_connection=self._open,
            policy=ReconnectPolicy(config.reconnect, random_source),
            clock=self._clock,
            on_state=self._on_state,
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
    def supervisor_task(self) -> asyncio.Task[None] | None:
        """The keep-alive loop's task; it ends only on a fatal error or disconnect()."""
        return self._supervisor._task

    async def connect(self, channel: str | VideoChannel) -> VideoChannel:
        """Start publishing into ``channel`` and keep the session alive until disconnect().

        Returns at once; the connection's progress arrives as ``onConnectionChange``.
        """
        if isinstance(channel, str):
            channel = VideoChannel(channel)
        if self._channel is not None and self._channel != channel:
            raise ConfigError(
                f"already connected to {self._channel.name!r}; disconnect() first", key="channel"
            )
        self._channel = channel
        if self._http is None:
            self._http = aiohttp.ClientSession()
        self._supervisor.start()
        return channel

    async def publish_stream(self, send_video: bool = True, send_audio: bool = True) -> None:
        """Choose what is sent; applies to the live connection without reconnecting."""
        self._send_video = send_video and self._video_source is not None
        self._send_audio = send_audio and self._audio_source is not None
        connection = self._supervisor.connection
        if connection is not None:
            await connection.replace_tracks(self._tracks())

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
        setter = getattr(self._audio_source, "set_muted", None)
        if setter is not None:
            setter(muted)

    def reconnect_now(self) -> None:
        """Reconnect at once: skip a pending backoff wait, or replace a live connection."""
        self._supervisor.reconnect_now()

    async def disconnect(self) -> None:
        """Leave the channel (the server is told), stop retrying, release resources."""
        await self._supervisor.stop()
        self._channel = None
        if self._http is not None:
            await self._http.close()
            self._http = None

    def _tracks(self) -> PublishedTracks:
        video = self._video_source.track if self._video_source and self._send_video else None
        audio = self._audio_source.track if self._audio_source and self._send_audio else None
        return PublishedTracks(
            video=video,
            audio=audio,
            offer_video=self._video_source is not None,
            offer_audio=self._audio_source is not None,
        )

    async def _acquire(self) -> Access:
        assert self._http is not None
        assert self._channel is not None
        return await acquire_access(
            self._config.alo,
            user=self.user.to_dict(),
            channel=self._channel.name,
            token_provider=self._token,
            http=self._http,
            now=self._clock.wall(),
        )

    async def _open(self, access: Access) -> Connection:
        assert self._http is not None
        transport = self._transports.get(access.transport)
        if transport is None:
            raise ConfigError(f"no transport named {access.transport!r}", key="alo.transport")
        return await transport.open(access, self._tracks(), self._http)

    def _on_state(self, state: ConnectionState, detail: dict[str, Any]) -> None:
        if state is S.CONNECTED:
            self._connected_at = self._clock.monotonic()
        payload = {"state": state.value, "user": self.user.to_dict(), **detail}
        self.events.dispatch_event(Event("onConnectionChange", payload))
        if state in (S.ERROR, S.DISCONNECTED):
            ended: dict[str, Any] = {"state": state.value, "user": self.user.to_dict()}
            if "message" in detail:
                ended["message"] = detail["message"]
            self.events.dispatch_event(Event("onDisconnect", ended))


def _default_whip(config: Config) -> WhipTransport:
    servers: list[dict[str, Any]] = []
    for server in config.alo.ice_servers:
        entry: dict[str, Any] = {"urls": list(server.urls)}
        if server.username is not None:
            entry["username"] = server.username
        if server.credential is not None:
            entry["credential"] = server.credential
        servers.append(entry)
    return WhipTransport(ice_servers=servers, liveness_timeout=config.reconnect.liveness_timeout)


__all__ = ["AloVideo", "TokenProvider", "VideoChannel", "VideoUser"]
