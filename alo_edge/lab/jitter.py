"""The lab's video jitter buffer: it gives up on a lost packet, as a browser does.

aiortc's receiver (1.16) keeps video packets in a 512-slot ``JitterBuffer`` that hands
out a frame only once every packet before it is there. A packet that is lost for good
(its retransmission lost too, or gone from the sender's history) blocks every later
frame until 512 packets have piled up behind it: 2.5 s at 2 Mbit/s, half a minute at
150 kbit/s, then a burst of stale frames. A browser (libwebrtc) stops waiting, asks
for a keyframe and shows nothing until it arrives. The lab measures what a viewer
would see, so it receives video the browser's way: :class:`PatientJitterBuffer`
waits :data:`GIVE_UP_AFTER` for a missing packet (NACK repair takes a round trip),
then drops what it holds, sends a PLI, and passes no frame until one that starts
with an IDR picture (SPS ahead of it) comes complete.

:func:`receive_video_like_a_browser` puts it into an aiortc receiver: the one place
the lab reaches into aiortc's private state (``RTCRtpReceiver.__jitter_buffer``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from aiortc.jitterbuffer import JitterBuffer, JitterFrame
from aiortc.rtp import RtpPacket
from aiortc.utils import uint16_add

logger = logging.getLogger(__name__)

#: How long a missing packet is waited for before the frames behind it are given up.
GIVE_UP_AFTER = 1.0
VIDEO_CAPACITY = 512  # aiortc's own video capacity
_START_CODE = b"\x00\x00\x00\x01"
#: NAL unit types that begin a picture one can start decoding at (SPS, IDR slice).
_KEYFRAME_NALS = (7, 5)


def starts_keyframe(data: bytes) -> bool:
    """True when depayloaded H.264 ``data`` begins with an SPS or an IDR slice."""
    return data.startswith(_START_CODE) and len(data) > 4 and data[4] & 0x1F in _KEYFRAME_NALS


class PatientJitterBuffer(JitterBuffer):
    """aiortc's video ``JitterBuffer`` that stops waiting for a lost packet (see module)."""

    def __init__(
        self, clock: Callable[[], float] = time.monotonic, give_up_after: float = GIVE_UP_AFTER
    ) -> None:
        super().__init__(capacity=VIDEO_CAPACITY, is_video=True)
        self._clock = clock
        self._give_up_after = give_up_after
        self._blocked_since: float | None = None
        self._await_keyframe = False
        #: Times a lost packet was given up on (frames dropped until a keyframe).
        self.gave_up = 0

    def add(self, packet: RtpPacket) -> tuple[bool, JitterFrame | None]:
        pli, frame = super().add(packet)
        if frame is None and self._blocked(packet):
            now = self._clock()
            if self._blocked_since is None:
                self._blocked_since = now
            elif now - self._blocked_since > self._give_up_after:
                self._give_up()
                return True, None
        elif frame is not None:
            self._blocked_since = None
        while frame is not None and self._await_keyframe:
            if starts_keyframe(frame.data):
                self._await_keyframe = False
                break
            frame = self._remove_frame(packet.sequence_number)  # undecodable: drop it
        return pli, frame

    def _blocked(self, packet: RtpPacket) -> bool:
        """A slot between the oldest packet held and ``packet`` is a gap."""
        origin = self._origin
        if origin is None:
            return False
        ahead = uint16_add(packet.sequence_number, -origin)
        if ahead >= self._capacity:
            return False  # a late packet from before the origin
        return any(
            self._packets[uint16_add(origin, i) % self._capacity] is None for i in range(ahead)
        )

    def _give_up(self) -> None:
        self.remove(self._capacity)
        self._origin = None  # the next packet starts afresh
        self._blocked_since = None
        self._await_keyframe = True
        self.gave_up += 1
        logger.debug("video: a lost packet was given up on; waiting for a keyframe")


def receive_video_like_a_browser(receiver: Any) -> None:
    """Give aiortc ``receiver`` (video) a :class:`PatientJitterBuffer`; before RTP flows."""
    receiver._RTCRtpReceiver__jitter_buffer = PatientJitterBuffer()
