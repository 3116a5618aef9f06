"""WHIP (RFC 9725) publishing over aiohttp + aiortc.

One attempt = one fresh RTCPeerConnection: POST the offer (application/sdp, bearer
token), take the 201's Location and answer, wait until ICE and DTLS are up. On
close the session is DELETEd so the server frees it at once.

Liveness is ours, not aiortc's: aiortc notices a dead path only after ~30 s of
failed consent checks. The far end's RTCP receiver reports refresh the sender's
``remote-inbound-rtp`` stats about every second; when none arrives for
``liveness_timeout`` seconds the link is declared dead.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import urljoin

import aiohttp
from aiortc import RTCPeerConnection, RTCRtpSender, RTCSessionDescription
from aiortc.rtcrtptransceiver import RTCRtpTransceiver

from alo_edge.errors import SignallingError, TransportError
from alo_edge.media.passthrough import answer_keyframe_requests, request_keyframe
from alo_edge.session.access import Access
from alo_edge.transport.base import OutboundStats, PublishedTracks
from alo_edge.transport.http import (
    HTTP_TIMEOUT,
    MAX_SDP_BYTES,
    auth_error_for,
    read_limited,
    retry_after_seconds,
)
from alo_edge.transport.ice import ice_server_from_dict, rtc_configuration

logger = logging.getLogger(__name__)

CONNECT_TIMEOUT = 10.0
#: A lab (alo-edge's or any server that wants them) names its state-report URL so.
EVENTS_REL = "urn:x-alo-edge:events"
DELETE_TIMEOUT = aiohttp.ClientTimeout(total=2)
LIVENESS_POLL = 0.5
_LINK_ICE_SERVER = re.compile(r"<([^>]+)>\s*;(.*?)(?:,(?=\s*<)|$)")


def parse_link_ice_servers(values: Sequence[str]) -> list[dict[str, Any]]:
    """ICE servers from ``Link: <stun:...>; rel="ice-server"`` headers (RFC 9725 section 4.6)."""
    servers: list[dict[str, Any]] = []
    for value in values:
        for url, params in _LINK_ICE_SERVER.findall(value):
            attributes = dict(
                (name.strip().lower(), raw.strip().strip('"'))
                for name, _, raw in (p.partition("=") for p in params.split(";"))
                if name.strip()
            )
            if attributes.get("rel") != "ice-server":
                continue
            server: dict[str, Any] = {"urls": [url]}
            if "username" in attributes:
                server["username"] = attributes["username"]
            if "credential" in attributes:
                server["credential"] = attributes["credential"]
            servers.append(server)
    return servers


class WhipTransport:
    """Publishes to a WHIP endpoint; remembers ICE servers the endpoint advertised.

    aiortc gathers all candidates before the offer is sent (no trickle ICE), so
    servers advertised in a 201's Link headers can only serve the next attempt.
    """

    def __init__(
        self,
        *,
        ice_servers: Sequence[dict[str, Any]] = (),
        liveness_timeout: float = 8.0,
        connect_timeout: float = CONNECT_TIMEOUT,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._configured_servers = list(ice_servers)
        self._link_servers: list[dict[str, Any]] = []
        self._liveness_timeout = liveness_timeout
        self._connect_timeout = connect_timeout
        self._clock = clock

    async def open(
        self, access: Access, tracks: PublishedTracks, http: aiohttp.ClientSession
    ) -> WhipConnection:
        """POST an offer for ``tracks`` to ``access.url`` and return once media flows."""
        servers = list(access.ice_servers) or self._configured_servers or self._link_servers
        configuration = rtc_configuration(
            ice_server_from_dict(s, where=f"iceServers[{i}]") for i, s in enumerate(servers)
        )
        pc = RTCPeerConnection(configuration=configuration)
        connection = WhipConnection(pc, http, access.token, self._liveness_timeout, self._clock)
        try:
            _add_transceivers(pc, tracks)
            connection.sending = _sending_kinds(tracks)
            await pc.setLocalDescription(await pc.createOffer())
            answer = await self._post_offer(connection, access, pc.localDescription.sdp, http)
            try:
                await pc.setRemoteDescription(RTCSessionDescription(sdp=answer, type="answer"))
            except Exception as exc:  # aiortc raises ValueError, KeyError ... on bad SDP
                raise SignallingError(
                    f"WHIP endpoint sent a malformed SDP answer: {exc!r}"
                ) from None
            await connection.wait_connected(self._connect_timeout)
            # A passthrough source is mid-GOP: the new receiver must not wait for its IDR.
            request_keyframe(tracks.video)
        except BaseException:
            await connection.close()
            raise
        return connection

    async def _post_offer(
        self, connection: WhipConnection, access: Access, offer: str, http: aiohttp.ClientSession
    ) -> str:
        headers = {"Content-Type": "application/sdp", "Authorization": f"Bearer {access.token}"}
        try:
            async with http.post(
                access.url, data=offer.encode(), headers=headers, timeout=HTTP_TIMEOUT
            ) as response:
                body = await read_limited(response, MAX_SDP_BYTES, what="WHIP answer")
                if response.status in (401, 403):
                    raise auth_error_for(response.status, body, what="WHIP endpoint")
                if response.status != 201:
                    raise TransportError(
                        f"WHIP endpoint answered HTTP {response.status}, expected 201",
                        retry_after=retry_after_seconds(response.headers),
                    )
                location = response.headers.get("Location")
                if not location:
                    raise SignallingError("WHIP endpoint's 201 has no Location header")
                # Set before any further check, so close() DELETEs what the server created.
                connection.resource_url = urljoin(str(response.url), location)
                content_type = response.headers.get("Content-Type", "")
                if content_type.split(";")[0].strip().lower() != "application/sdp":
                    raise SignallingError(
                        f"WHIP answer has Content-Type {content_type!r}, expected application/sdp"
                    )
                links = response.headers.getall("Link", [])
                if links:
                    self._link_servers = parse_link_ice_servers(links)
                    connection.events_url = link_target(links, EVENTS_REL, str(response.url))
        except aiohttp.ClientError as exc:
            raise TransportError(f"WHIP endpoint {access.url} unreachable: {exc}") from None
        except TimeoutError:
            raise TransportError(f"WHIP endpoint {access.url} did not answer in time") from None
        try:
            return body.decode("utf-8")
        except UnicodeDecodeError:
            raise SignallingError("WHIP answer is not UTF-8 text") from None


def _sending_kinds(tracks: PublishedTracks) -> set[str]:
    pairs = (("video", tracks.video), ("audio", tracks.audio))
    return {kind for kind, track in pairs if track is not None}


def _add_transceivers(pc: RTCPeerConnection, tracks: PublishedTracks) -> None:
    if tracks.offer_video:
        transceiver = pc.addTransceiver("video", direction="sendonly")
        _prefer_h264(transceiver)
        answer_keyframe_requests(transceiver.sender)
        if tracks.video is not None:
            transceiver.sender.replaceTrack(tracks.video)
    talkback = tracks.on_remote_audio
    if tracks.offer_audio or talkback is not None:
        direction = "sendonly" if talkback is None else "sendrecv"
        if not tracks.offer_audio:
            direction = "recvonly"
        transceiver = pc.addTransceiver("audio", direction=direction)
        if tracks.audio is not None:
            transceiver.sender.replaceTrack(tracks.audio)
    if talkback is not None:
        # Fired while the answer is applied, when the server sends audio back.
        pc.on("track", lambda track: talkback(track) if track.kind == "audio" else None)


def link_target(values: Sequence[str], rel: str, base: str) -> str | None:
    """The absolute URL of the first ``Link`` whose ``rel`` is ``rel``, if any."""
    for value in values:
        for url, params in _LINK_ICE_SERVER.findall(value):
            rels = re.search(r'rel\s*=\s*"?([^";]+)"?', params)
            if rels and rel in rels.group(1).split():
                return urljoin(base, str(url))
    return None


def _prefer_h264(transceiver: RTCRtpTransceiver) -> None:
    # H.264 is what the Pi's hardware encoder produces; keeping the synthetic source
    # on the same codec means the server sees one codec whatever the source.
    codecs = RTCRtpSender.getCapabilities("video").codecs
    h264 = [c for c in codecs if c.mimeType == "video/H264"]
    rest = [c for c in codecs if c.mimeType == "video/rtx"]
    transceiver.setCodecPreferences(h264 + rest)


class WhipConnection:
    """A published WHIP session: watches liveness, replaces tracks, DELETEs on close."""

    def __init__(
        self,
        pc: RTCPeerConnection,
        http: aiohttp.ClientSession,
        token: str,
        liveness_timeout: float,
        clock: Callable[[], float],
    ) -> None:
        self.resource_url: str | None = None
        #: Where the server takes the device's state reports (a ``Link`` in the answer).
        self.events_url: str | None = None
        self._pc = pc
        self._http = http
        self._token = token
        self._liveness_timeout = liveness_timeout
        self._clock = clock
        self._state_changed = asyncio.Event()
        self._close_task: asyncio.Task[None] | None = None
        #: Kinds whose track we send; aiortc ends a sender's track silently, so these
        #: are checked for life rather than trusted.
        self.sending: set[str] = set()
        pc.on("connectionstatechange", self._state_changed.set)

    async def wait_connected(self, within: float) -> None:
        """Wait until ICE and DTLS are up; a failure or timeout is a TransportError."""
        deadline = self._clock() + within
        while self._pc.connectionState != "connected":
            if self._pc.connectionState in ("failed", "closed"):
                raise TransportError(f"peer connection {self._pc.connectionState} while connecting")
            remaining = deadline - self._clock()
            if remaining <= 0:
                raise TransportError(f"media path did not come up within {within:.0f} s")
            self._state_changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._state_changed.wait(), remaining)

    async def wait_lost(self) -> str:
        """Return the reason once the peer connection fails, closes, or RTCP reports stop."""
        last_report: object = None
        last_report_at = self._clock()
        while True:
            state = self._pc.connectionState
            if state in ("failed", "closed"):
                return f"the server ended the session (peer connection {state})"
            ended = self._ended_track_kind()
            if ended:
                return f"the published {ended} track ended; reconnecting to restart it"
            report = await self._latest_receiver_report()
            now = self._clock()
            if report is None or report != last_report:
                # None: no published track, so no RTP and no reports to expect.
                last_report, last_report_at = report, now
            elif now - last_report_at > self._liveness_timeout:
                return f"no RTCP receiver report for {self._liveness_timeout:.0f} s (link dead)"
            self._state_changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._state_changed.wait(), LIVENESS_POLL)

    def _sending_transceivers(self) -> list[RTCRtpTransceiver]:
        return [t for t in self._pc.getTransceivers() if t.kind in self.sending]

    def _ended_track_kind(self) -> str | None:
        for transceiver in self._sending_transceivers():
            track = transceiver.sender.track
            if track is None or track.readyState == "ended":
                return str(transceiver.kind)
        return None

    async def _latest_receiver_report(self) -> object:
        # Each receiver report replaces the remote-inbound-rtp entry with a new timestamp,
        # so the set of those timestamps changes exactly when a report arrived.
        senders = [t.sender for t in self._sending_transceivers()]
        if not senders:
            return None
        stamps = []
        for sender in senders:
            for stats in (await sender.getStats()).values():
                if stats.type == "remote-inbound-rtp":
                    stamps.append((stats.kind, stats.timestamp))
        return tuple(sorted(stamps))

    @property
    def events_target(self) -> tuple[str, str] | None:
        """``(url, bearer token)`` for the device's state reports, if the server named a URL."""
        return None if self.events_url is None else (self.events_url, self._token)

    async def outbound_stats(self) -> list[OutboundStats]:
        """Packets and bytes sent and the round-trip time, per sending track."""
        result = []
        for sender in self._pc.getSenders():
            if sender.track is None:
                continue
            sent, rtt = None, None
            for stats in (await sender.getStats()).values():
                if stats.type == "outbound-rtp":
                    sent = stats
                elif stats.type == "remote-inbound-rtp":
                    rtt = stats.roundTripTime
            if sent is not None:
                result.append(OutboundStats(sent.kind, sent.packetsSent, sent.bytesSent, rtt))
        return result

    async def replace_tracks(self, tracks: PublishedTracks) -> None:
        self.sending = _sending_kinds(tracks)
        for transceiver in self._pc.getTransceivers():
            if transceiver.kind == "video":
                changed = transceiver.sender.track is not tracks.video
                transceiver.sender.replaceTrack(tracks.video)
                if changed:
                    request_keyframe(tracks.video)
            elif transceiver.kind == "audio":
                transceiver.sender.replaceTrack(tracks.audio)

    async def close(self) -> None:
        """DELETE the WHIP resource and close the peer connection, once, even if cancelled."""
        if self._close_task is None:
            self._close_task = asyncio.ensure_future(self._close())
        await asyncio.shield(self._close_task)

    async def _close(self) -> None:
        if self.resource_url is not None:
            try:
                async with self._http.delete(
                    self.resource_url,
                    headers={"Authorization": f"Bearer {self._token}"},
                    timeout=DELETE_TIMEOUT,
                ) as response:
                    if response.status >= 300 and response.status != 404:
                        logger.warning("WHIP DELETE answered HTTP %s", response.status)
            except (aiohttp.ClientError, TimeoutError) as exc:
                # The server may be the thing that died; it will time the session out.
                logger.info("WHIP DELETE not delivered: %s", exc or type(exc).__name__)
        await self._pc.close()
