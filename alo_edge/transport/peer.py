"""The publishing peer connection both transports share, whatever carries its signalling.

A :class:`PublishingPeer` is one aiortc RTCPeerConnection that sends the device's
tracks: it builds the transceivers (H.264 preferred, PLI/FIR wired to the track),
makes the offer, applies the answer, waits until ICE and DTLS are up, swaps tracks
without renegotiation, and says when the link is dead.

Liveness is ours, not aiortc's: aiortc notices a dead path only after ~30 s of
failed consent checks. The far end's RTCP receiver reports refresh the sender's
``remote-inbound-rtp`` stats about every second; when none arrives for
``liveness_timeout`` seconds the link is declared dead. aiortc also ends a sender's
track silently, so the tracks sent are checked for life rather than trusted.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

from aiortc import RTCPeerConnection, RTCRtpSender, RTCSessionDescription
from aiortc.rtcrtptransceiver import RTCRtpTransceiver

from alo_edge.errors import SignallingError, TransportError
from alo_edge.media.feedback import report_network_feedback
from alo_edge.media.passthrough import answer_keyframe_requests, request_keyframe
from alo_edge.transport.base import OutboundStats, PublishedTracks
from alo_edge.transport.turn import IceAttempt

LIVENESS_POLL = 0.5


def sending_kinds(tracks: PublishedTracks) -> set[str]:
    """The kinds ``tracks`` sends now (offered kinds without a track are not sent)."""
    pairs = (("video", tracks.video), ("audio", tracks.audio))
    return {kind for kind, track in pairs if track is not None}


def prefer_h264(transceiver: RTCRtpTransceiver) -> None:
    # H.264 is what the Pi's hardware encoder produces; keeping the synthetic source
    # on the same codec means the server sees one codec whatever the source.
    codecs = RTCRtpSender.getCapabilities("video").codecs
    h264 = [c for c in codecs if c.mimeType == "video/H264"]
    rest = [c for c in codecs if c.mimeType == "video/rtx"]
    transceiver.setCodecPreferences(h264 + rest)


def add_transceivers(
    pc: RTCPeerConnection, tracks: PublishedTracks, *, receive_talkback: bool
) -> None:
    """Add the transceivers ``tracks`` offers to ``pc`` and start sending its tracks.

    With ``receive_talkback`` and ``tracks.on_remote_audio`` set, audio is offered
    sendrecv (recvonly when no audio is offered) and the server's audio track goes to
    the callback; without it (Janus: talk-back arrives on subscriber connections)
    the connection only sends.
    """
    if tracks.offer_video:
        transceiver = pc.addTransceiver("video", direction="sendonly")
        prefer_h264(transceiver)
        answer_keyframe_requests(transceiver.sender)
        report_network_feedback(transceiver.sender)
        if tracks.video is not None:
            transceiver.sender.replaceTrack(tracks.video)
    talkback = tracks.on_remote_audio if receive_talkback else None
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


class PublishingPeer:
    """One sending peer connection: offer/answer, connect wait, liveness, track swaps."""

    def __init__(
        self,
        ice: IceAttempt,
        liveness_timeout: float,
        clock: Callable[[], float],
    ) -> None:
        self._ice = ice
        self._pc = RTCPeerConnection(configuration=ice.configuration)
        self._liveness_timeout = liveness_timeout
        self._clock = clock
        self._state_changed = asyncio.Event()
        #: Kinds whose track we send; aiortc ends a sender's track silently, so these
        #: are checked for life rather than trusted.
        self.sending: set[str] = set()
        self._pc.on("connectionstatechange", self._state_changed.set)

    async def create_offer(self, tracks: PublishedTracks, *, receive_talkback: bool) -> str:
        """Add the transceivers for ``tracks`` and return the SDP offer (all candidates in)."""
        add_transceivers(self._pc, tracks, receive_talkback=receive_talkback)
        self.sending = sending_kinds(tracks)
        await self._pc.setLocalDescription(await self._pc.createOffer())
        sdp = str(self._pc.localDescription.sdp)
        self._ice.gathered(sdp)  # no relay candidate: the TURN server is asked why
        return sdp

    async def apply_answer(self, sdp: str, *, sender: str) -> None:
        """Apply the SDP answer; one aiortc cannot parse is a SignallingError naming ``sender``."""
        try:
            await self._pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="answer"))
        except Exception as exc:  # aiortc raises ValueError, KeyError ... on bad SDP
            raise SignallingError(f"{sender} sent a malformed SDP answer: {exc!r}") from None

    async def wait_connected(self, within: float) -> None:
        """Wait until ICE and DTLS are up; a failure or timeout is a TransportError.

        The error says what the TURN server said when that explains it (credentials
        refused, no answer), and the next attempt then relays through the next TURN entry.
        """
        deadline = self._clock() + within
        while self._pc.connectionState != "connected":
            if self._pc.connectionState in ("failed", "closed"):
                await self._media_failed(
                    f"peer connection {self._pc.connectionState} while connecting"
                )
            remaining = deadline - self._clock()
            if remaining <= 0:
                await self._media_failed(f"media path did not come up within {within:.0f} s")
            self._state_changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._state_changed.wait(), remaining)
        self._ice.media_up()

    async def _media_failed(self, message: str) -> None:
        explanation = await self._ice.why_media_failed()
        self._ice.media_failed()
        raise TransportError(f"{message}: {explanation}" if explanation else message)

    @property
    def connection_state(self) -> str:
        """aiortc's connection state (``closed`` once either side ended the session)."""
        return str(self._pc.connectionState)

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
        """Send ``tracks`` instead (no renegotiation); a new video track is asked for a keyframe."""
        self.sending = sending_kinds(tracks)
        for transceiver in self._pc.getTransceivers():
            if transceiver.kind == "video":
                changed = transceiver.sender.track is not tracks.video
                transceiver.sender.replaceTrack(tracks.video)
                if changed:
                    request_keyframe(tracks.video)
            elif transceiver.kind == "audio":
                transceiver.sender.replaceTrack(tracks.audio)

    async def close(self) -> None:
        """Close the peer connection (aiortc's close is idempotent)."""
        self._ice.close()
        await self._pc.close()
