"""Per-channel WHIP ingest: one aiortc peer connection per publisher, and what arrived.

The lab decodes everything it receives (aiortc does so as frames are read), so its
counters prove that a device's media is not only flowing but decodable.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import av
import numpy as np
from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from alo_edge.lab.jitter import receive_video_like_a_browser
from alo_edge.lab.probes import LatencyProbe, ToneProbe
from alo_edge.lab.relay import LiveChannel

logger = logging.getLogger(__name__)

FPS_WINDOW_SECONDS = 5.0


class OfferError(ValueError):
    """The offer SDP cannot be used; the message is one line, fit for an HTTP 400."""


@dataclass
class ChannelStats:
    """What a channel has received since the lab started (all sessions together)."""

    clock: Callable[[], float] = time.monotonic
    connected: bool = False
    sessions_total: int = 0
    deletes: int = 0
    #: Sessions the lab ended because their token expired (--end-sessions-at-expiry).
    expired_sessions: int = 0
    frames_decoded: int = 0
    audio_frames: int = 0
    width: int | None = None
    height: int | None = None
    last_error: str | None = None
    #: The device offered a sendrecv audio section and gets the channel's talk-back mix.
    talkback: bool = False
    #: Peak of the last decoded audio frame, 0-1 (as WebRTC's ``audioLevel``).
    audio_level: float = 0.0
    _decode_times: deque[float] = field(default_factory=deque, repr=False)
    #: Dominant audio frequency and stamped-picture latency (see alo_edge.lab.probes).
    tone: ToneProbe = field(default_factory=ToneProbe, repr=False)
    latency: LatencyProbe = field(default_factory=LatencyProbe, repr=False)

    def record_video_frame(self, width: int, height: int) -> None:
        """Count one decoded video frame of ``width`` x ``height``."""
        self.frames_decoded += 1
        self.width = width
        self.height = height
        self._decode_times.append(self.clock())
        self._prune()

    def record_audio_frame(self, level: float | None = None) -> None:
        """Count one decoded audio frame whose peak is ``level`` (0-1), when known."""
        self.audio_frames += 1
        if level is not None:
            self.audio_level = level

    def fps(self) -> float:
        """Video frames decoded per second over the last five seconds."""
        self._prune()
        return len(self._decode_times) / FPS_WINDOW_SECONDS

    def _prune(self) -> None:
        horizon = self.clock() - FPS_WINDOW_SECONDS
        while self._decode_times and self._decode_times[0] <= horizon:
            self._decode_times.popleft()


def check_offer(sdp: str) -> None:
    """Raise :class:`OfferError` when ``sdp`` is obviously not a usable offer."""
    # aiortc's parser accepts surprising input and fails later with a traceback-like
    # message, so reject what is obviously not an offer with a readable reason.
    if not sdp.strip():
        raise OfferError("empty SDP offer")
    if not sdp.lstrip().startswith("v=0"):
        raise OfferError("not an SDP offer: it must start with 'v=0'")
    if "\nm=" not in sdp.replace("\r\n", "\n"):
        raise OfferError("SDP offer has no media section")


def _one_line(error: BaseException) -> str:
    text = " ".join(str(error).split()) or type(error).__name__
    return text[:200]


FrameListener = Callable[["IngestSession", str, "av.VideoFrame | av.AudioFrame"], None]


def _peak_level(frame: av.AudioFrame) -> float:
    samples = frame.to_ndarray()
    if samples.size == 0 or samples.dtype != np.int16:
        return 0.0
    return float(np.abs(samples.astype(np.int32)).max()) / 32768.0


class IngestSession:
    """One publisher's peer connection: answers its offer and consumes what it sends.

    Media sections are answered ``recvonly``, except a ``sendrecv`` audio section when
    a ``talkback`` track is given: the device then hears the operators through it.
    Every decoded frame goes to ``on_frame`` (the live view). Every task it starts is
    its own and is awaited by :meth:`close`.
    """

    def __init__(
        self,
        channel: str,
        session_id: str,
        stats: ChannelStats,
        configuration: RTCConfiguration,
        on_connection_state: Callable[[IngestSession, str], None],
        *,
        talkback: MediaStreamTrack | None = None,
        on_frame: FrameListener | None = None,
    ) -> None:
        self.channel = channel
        self.session_id = session_id
        self._stats = stats
        self._on_connection_state = on_connection_state
        self._talkback = talkback
        self._on_frame = on_frame
        #: True once the answer sends the talk-back track (the device offered sendrecv).
        self.talkback_negotiated = False
        self._pc = RTCPeerConnection(configuration=configuration)
        self._consumers: set[asyncio.Task[None]] = set()
        self._failure_close: asyncio.Task[None] | None = None
        self._closed = False
        self._pc.on("track", self._on_track)
        self._pc.on("connectionstatechange", self._on_connectionstatechange)

    @property
    def connection_state(self) -> str:
        """aiortc's connection state of this session's peer connection."""
        state: str = self._pc.connectionState
        return state

    @property
    def live(self) -> bool:
        """True until the session is closed by either side or fails."""
        return not self._closed and self.connection_state not in ("failed", "closed")

    async def accept(self, offer_sdp: str) -> str:
        """Apply the publisher's offer and return the answer SDP (all candidates gathered)."""
        check_offer(offer_sdp)
        try:
            await self._pc.setRemoteDescription(RTCSessionDescription(sdp=offer_sdp, type="offer"))
            audio = [t for t in self._pc.getTransceivers() if t.kind == "audio"]
            if self._talkback is not None and audio:
                # The answer is sendrecv only where the device offered sendrecv.
                audio[0].sender.replaceTrack(self._talkback)
                audio[0].direction = "sendrecv"
            await self._pc.setLocalDescription(await self._pc.createAnswer())
            self.talkback_negotiated = bool(audio) and audio[0].currentDirection == "sendrecv"
        except (ValueError, TypeError, KeyError, IndexError, AttributeError) as error:
            # aiortc signals unusable SDP with these rather than one error type.
            raise OfferError(f"unusable SDP offer: {_one_line(error)}") from error
        answer: str = self._pc.localDescription.sdp
        return answer

    async def close(self) -> None:
        """Close the peer connection (the publisher sees a DTLS close) and await every task."""
        self._closed = True
        await self._pc.close()
        for task in self._consumers:
            task.cancel()
        await asyncio.gather(*self._consumers, return_exceptions=True)
        if self._failure_close is not None:
            await self._failure_close

    def _on_track(self, track: Any) -> None:
        logger.info(
            "channel %s session %s: receiving %s", self.channel, self.session_id, track.kind
        )
        if track.kind == "video":
            # Fired while the offer is applied, before any RTP: a lost packet must cost
            # a viewer what it costs in a browser, not half a minute of frozen video.
            for receiver in self._pc.getReceivers():
                if receiver.track is track:
                    receive_video_like_a_browser(receiver)
        task = asyncio.create_task(self._consume(track), name=f"lab-ingest-{track.kind}")
        self._consumers.add(task)

    async def _consume(self, track: Any) -> None:
        while True:
            try:
                frame = await track.recv()
            except MediaStreamError:
                return
            except Exception as error:
                self._stats.last_error = f"{track.kind} receive failed: {_one_line(error)}"
                logger.warning("channel %s: %s", self.channel, self._stats.last_error)
                return
            if track.kind == "video":
                self._stats.record_video_frame(frame.width, frame.height)
                self._stats.latency.add(frame)
            else:
                self._stats.record_audio_frame(_peak_level(frame))
                self._stats.tone.add(frame)
            if self._on_frame is not None:
                self._on_frame(self, track.kind, frame)

    def _on_connectionstatechange(self) -> None:
        state = self.connection_state
        logger.info("channel %s session %s: connection %s", self.channel, self.session_id, state)
        if state == "failed" and self._failure_close is None:
            # aiortc leaves a failed connection open; nothing will ever flow again on it.
            self._failure_close = asyncio.create_task(self._pc.close(), name="lab-ingest-close")
        self._on_connection_state(self, state)


#: Replaced sessions remembered per channel, so their publisher can ask why they ended.
MAX_REPLACED_SESSIONS = 32


class Channel:
    """A named channel: its stats, the one live ingest session, if any, and its viewers.

    A channel takes one publisher: a new one replaces the live session, as a server
    does when a device reconnects before its old session timed out. The replaced
    session's id is remembered with the user who took over, so its publisher, whose
    DELETE comes after the lab closed it, learns why (see ``replaced_by``).
    """

    def __init__(self, name: str, clock: Callable[[], float] = time.monotonic) -> None:
        self.name = name
        self.stats = ChannelStats(clock=clock)
        self.session: IngestSession | None = None
        self.live = LiveChannel(name)
        self._replaced: OrderedDict[str, str] = OrderedDict()

    def replaced_by(self, session_id: str) -> str | None:
        """The user whose session replaced ``session_id``, if that is how it ended."""
        return self._replaced.get(session_id)

    def new_session(self, session_id: str, configuration: RTCConfiguration) -> IngestSession:
        """A session that will report to this channel once it becomes the current one."""
        return IngestSession(
            self.name,
            session_id,
            self.stats,
            configuration,
            self._on_connection_state,
            talkback=self.live.talkback_track(),
            on_frame=self._on_frame,
        )

    def _on_frame(self, session: IngestSession, kind: str, frame: Any) -> None:
        if session is self.session:
            self.live.push(kind, frame)

    async def install(self, session: IngestSession, *, user: str) -> None:
        """Make ``session`` (already answered, published by ``user``) the channel's session,
        closing the older one."""
        older, self.session = self.session, session
        self.stats.sessions_total += 1
        self.stats.connected = session.connection_state == "connected"
        self.stats.talkback = session.talkback_negotiated
        if older is not None:
            # Remembered before the close, which is what its publisher notices first.
            self._replaced[older.session_id] = user
            while len(self._replaced) > MAX_REPLACED_SESSIONS:
                self._replaced.popitem(last=False)
            logger.info(
                "channel %s: session %s replaces %s",
                self.name,
                session.session_id,
                older.session_id,
            )
            await older.close()

    async def end_session(self, session_id: str | None = None) -> bool:
        """Close the current session (only if its id is ``session_id``, when given).

        Returns False when there is no such session.
        """
        session = self.session
        if session is None or (session_id is not None and session.session_id != session_id):
            return False
        self.session = None
        self.stats.connected = False
        await session.close()
        return True

    def _on_connection_state(self, session: IngestSession, state: str) -> None:
        # Only the current session speaks for the channel; a replaced one is closing.
        if session is not self.session:
            return
        if state == "connected":
            self.stats.connected = True
        elif state in ("failed", "closed"):
            self.stats.connected = False
            if state == "failed":
                self.stats.last_error = "connection failed (ICE or DTLS)"


class Channels:
    """Every channel the lab has seen, by name."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._channels: dict[str, Channel] = {}

    def get(self, name: str) -> Channel | None:
        """The channel called ``name``, if it exists."""
        return self._channels.get(name)

    def get_or_create(self, name: str) -> Channel:
        """The channel called ``name``, created on first use."""
        channel = self._channels.get(name)
        if channel is None:
            channel = self._channels[name] = Channel(name, clock=self._clock)
        return channel

    def __iter__(self) -> Iterator[Channel]:
        return iter(sorted(self._channels.values(), key=lambda channel: channel.name))

    async def close_all(self) -> None:
        """Close every live session (publishers see a DTLS close) and every viewer."""
        await asyncio.gather(*(channel.end_session() for channel in self._channels.values()))
        await asyncio.gather(*(channel.live.close() for channel in self._channels.values()))
