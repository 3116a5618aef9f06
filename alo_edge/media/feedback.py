"""What the far end says about the passthrough video: RTCP receiver reports and REMB.

aiortc keeps both to itself on the passthrough path: it folds receiver reports into a
smoothed round-trip time (``getStats()``'s ``remote-inbound-rtp``), and it hands REMB
only to the encoders it runs itself. The rate controller needs each report as it
arrives and every REMB, so :func:`report_network_feedback` wraps the sender's private
``_handle_rtcp_packet()`` (aiortc 1.16): the one place alo-edge reads RTCP, next to
the keyframe hook of :mod:`alo_edge.media.passthrough`. The wrapper keeps aiortc's own
handling, then reads the packet with aiortc's public RTCP classes:

- a receiver or sender report's block about this sender's stream: fraction lost,
  interarrival jitter (RTP clock), the round-trip time from LSR/DLSR as RFC 3550
  section 6.4.1 computes it (arrival time - LSR - DLSR, in NTP's middle 32 bits), and
  how many packets have arrived so far (extended highest sequence number minus the
  cumulative number lost), with the mean payload size the sender's stats give;
- a REMB naming this stream: the receiver's estimate (or an SFU's cap), bit/s.

Each goes to the rate control of the track the sender sends at that moment (a
:class:`~alo_edge.media.passthrough.PassthroughTrack`), so ``replaceTrack`` needs no
re-wiring. Tracks that aiortc encodes itself take REMB the way aiortc gives it.
"""

from __future__ import annotations

import logging
from typing import Any

from aiortc import clock
from aiortc.rtp import (
    RTCP_PSFB_APP,
    RtcpPsfbPacket,
    RtcpReceiverInfo,
    RtcpRrPacket,
    RtcpSrPacket,
    unpack_remb_fci,
)

from alo_edge.media.base import VIDEO_CLOCK_RATE
from alo_edge.media.passthrough import PassthroughTrack

logger = logging.getLogger(__name__)

#: A round trip longer than this is a clock wrap or a stale LSR, not a measurement.
MAX_PLAUSIBLE_RTT = 60.0


def round_trip_time(block: RtcpReceiverInfo, arrival_ntp: int) -> float | None:
    """Seconds from a report block's LSR/DLSR (RFC 3550 6.4.1); None without a sender report."""
    if block.lsr == 0:
        return None
    arrival = (arrival_ntp >> 16) & 0xFFFFFFFF
    rtt = ((arrival - block.lsr - block.dlsr) & 0xFFFFFFFF) / 65536
    return rtt if rtt <= MAX_PLAUSIBLE_RTT else None


def report_network_feedback(sender: Any) -> None:
    """Make receiver reports and REMB arriving at aiortc ``sender`` reach its track's rate control.

    Call once per video sender, when the peer connection is built.
    """
    try:
        original = sender._handle_rtcp_packet
    except AttributeError:
        logger.warning(
            "this aiortc has no RTCRtpSender._handle_rtcp_packet: the passthrough video "
            "cannot follow the network (no receiver reports reach its rate control)"
        )
        return
    ssrc: list[int] = []  # the sender's SSRC, read once from its public stats

    async def handle_rtcp_packet(packet: Any) -> None:
        await original(packet)
        track = sender.track
        if not isinstance(track, PassthroughTrack) or track.rate is None:
            return
        if isinstance(packet, RtcpRrPacket | RtcpSrPacket):
            arrival = clock.current_ntp_time()
            blocks = [b for b in packet.reports if not ssrc or b.ssrc in ssrc]
            if not blocks:
                return
            outbound = [s for s in (await sender.getStats()).values() if s.type == "outbound-rtp"]
            if not ssrc:
                ssrc.extend(s.ssrc for s in outbound)
            sent = outbound[0] if outbound else None
            size = sent.bytesSent / sent.packetsSent if sent and sent.packetsSent else None
            for block in packet.reports:
                if block.ssrc in ssrc:
                    track.rate.on_receiver_report(
                        block.fraction_lost / 256,
                        block.jitter / VIDEO_CLOCK_RATE,
                        round_trip_time(block, arrival),
                        received_packets=block.highest_sequence - block.packets_lost,
                        packet_size=size,
                    )
        elif isinstance(packet, RtcpPsfbPacket) and packet.fmt == RTCP_PSFB_APP:
            try:
                bitrate, _ = unpack_remb_fci(packet.fci)
            except ValueError:
                return  # an application-layer feedback that is not REMB
            track.rate.on_remb(bitrate)

    sender._handle_rtcp_packet = handle_rtcp_packet
