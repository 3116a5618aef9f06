"""H.264 passthrough: already-encoded access units handed to aiortc, and keyframes on demand.

When a video track's ``recv()`` returns an ``av.Packet`` (Annex-B, pts and time_base
set), aiortc only packetises it: no decode, no re-encode. That is what makes a Pi's
hardware encoder (or a replayed ``.h264`` file) cheap to publish: a tenth of the CPU
of aiortc's own libx264 encoding at 720p30.

On that path aiortc also ignores the receiver's keyframe requests (RTCP PLI and FIR):
its ``RTCRtpSender`` turns them into a call of its private ``_send_keyframe()``,
which only sets a flag for aiortc's own encoder. :func:`answer_keyframe_requests`
is the one place alo-edge hooks into that method; the request then reaches the
source through :meth:`PassthroughTrack.request_keyframe`, rate-limited by
:class:`KeyframeRequests`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import av
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from alo_edge.media.base import VIDEO_TIME_BASE

if TYPE_CHECKING:
    from alo_edge.media.adaptive import AdaptiveBitrate

logger = logging.getLogger(__name__)

#: At most one forced keyframe per this many seconds: a receiver losing packets may ask
#: for one with every RTCP report, and each keyframe costs ten P-frames of bandwidth.
KEYFRAME_MIN_INTERVAL = 0.5
#: The same while the rate controller sees congestion: a 720p IDR is over a second of
#: a 500 kbit/s link, and each one forced then queues the pictures behind it.
CONGESTED_KEYFRAME_INTERVAL = 2.0


@dataclass(frozen=True)
class AccessUnit:
    """One encoded picture: Annex-B NAL units (SPS/PPS ahead of each IDR) and its time."""

    data: bytes
    keyframe: bool
    pts: int  # in 1/90000 s, increasing


class AccessUnitFeed(Protocol):
    """Where a :class:`PassthroughTrack` gets its pictures: a camera encoder, a file."""

    async def next_access_unit(self) -> AccessUnit:
        """The next picture to send, when it is due."""
        ...

    def request_keyframe(self) -> None:
        """Make a picture a receiver can start decoding from come soon."""
        ...


def nal_unit_types(data: bytes) -> list[int]:
    """The ``nal_unit_type`` of every NAL unit in an Annex-B buffer, in order."""
    types = []
    start = data.find(b"\x00\x00\x01")
    while start != -1 and start + 3 < len(data):
        types.append(data[start + 3] & 0x1F)
        start = data.find(b"\x00\x00\x01", start + 3)
    return types


def is_idr(data: bytes) -> bool:
    """True when the Annex-B buffer holds an IDR slice (a picture to start decoding at)."""
    return 5 in nal_unit_types(data)


class PassthroughTrack(MediaStreamTrack):
    """A video track returning encoded ``av.Packet``s, which aiortc sends as they are.

    ``rate`` (the source's rate control) hears what is sent and what the far end
    reports about it (see :mod:`alo_edge.media.feedback`); each track is one
    connection, so a new track starts a new path for it.
    """

    kind = "video"

    def __init__(self, feed: AccessUnitFeed, rate: AdaptiveBitrate | None = None) -> None:
        super().__init__()
        self._feed = feed
        self.rate = rate
        if rate is not None:
            rate.new_path()

    async def recv(self) -> av.Packet[Any]:
        if self.readyState != "live":
            raise MediaStreamError
        unit = await self._feed.next_access_unit()
        packet = av.Packet(unit.data)
        packet.pts = unit.pts
        packet.time_base = VIDEO_TIME_BASE
        if self.rate is not None:
            self.rate.sent(len(unit.data))
        return packet

    def request_keyframe(self) -> None:
        """A receiver asked for a keyframe (PLI/FIR), or a connection just came up."""
        self._feed.request_keyframe()


class KeyframeRequests:
    """Turns keyframe requests into forced keyframes, at most one per ``min_interval``.

    A request inside the interval is not dropped but deferred to its end, so the
    receiver that asked still gets its picture; any keyframe that leaves meanwhile
    (the encoder's periodic IDR) answers it instead (:meth:`keyframe_sent`). The
    rate controller lengthens ``min_interval`` under congestion. Call from the event
    loop only.
    """

    def __init__(
        self,
        force: Callable[[], None],
        min_interval: float = KEYFRAME_MIN_INTERVAL,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._force = force
        self.min_interval = min_interval
        self._clock = clock
        self._last: float | None = None
        self._deferred: asyncio.TimerHandle | None = None
        self.requested = 0
        self.forced = 0

    def request(self) -> None:
        """Ask for a keyframe; forced now, or at the end of the current interval."""
        self.requested += 1
        if self._deferred is not None:
            return
        now = self._clock()
        wait = 0.0 if self._last is None else self._last + self.min_interval - now
        if wait <= 0:
            self._fire()
        else:
            self._deferred = asyncio.get_running_loop().call_later(wait, self._fire)

    def keyframe_sent(self) -> None:
        """A keyframe left (periodic or forced): it answers every request made before it."""
        self._last = self._clock()
        self.close()

    def _fire(self) -> None:
        self._deferred = None
        self._last = self._clock()
        self.forced += 1
        self._force()

    def close(self) -> None:
        """Cancel a deferred keyframe (the source is stopping, or a keyframe left)."""
        if self._deferred is not None:
            self._deferred.cancel()
            self._deferred = None


def request_keyframe(track: MediaStreamTrack | None) -> None:
    """Ask ``track``'s source for a keyframe, if it is a passthrough track.

    Other tracks are encoded by aiortc, which makes its own keyframes when asked.
    """
    if isinstance(track, PassthroughTrack):
        track.request_keyframe()


def answer_keyframe_requests(sender: Any) -> None:
    """Make RTCP PLI/FIR arriving at aiortc ``sender`` reach the track it sends.

    aiortc 1.16 calls the sender's private ``_send_keyframe()`` for each PLI and FIR
    (``RTCRtpSender._handle_rtcp_packet``) and nothing else: on the passthrough path
    the request would be lost. The wrapper keeps aiortc's own behaviour (its encoder,
    when it encodes, still forces a keyframe) and forwards the request to whatever
    track the sender sends at that moment, so ``replaceTrack`` needs no re-wiring.
    Call once per sender, when the peer connection is built.
    """
    try:
        original = sender._send_keyframe
    except AttributeError:
        logger.warning(
            "this aiortc has no RTCRtpSender._send_keyframe: keyframe requests from the "
            "far end cannot be answered on the passthrough path"
        )
        return

    def send_keyframe() -> None:
        original()
        request_keyframe(sender.track)

    sender._send_keyframe = send_keyframe
