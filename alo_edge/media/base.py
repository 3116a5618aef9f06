"""The media contract: every source, real or synthetic, hands aiortc a track.

A source is opened once and its track reused across reconnects; each new peer
connection only attaches it to a new sender. What every source does is
:class:`MediaSource`; what only some can do is a small protocol of its own
(:class:`Restartable`), checked with ``isinstance`` where it matters, never probed
with ``getattr``.
"""

from __future__ import annotations

import fractions
from typing import Protocol, runtime_checkable

import av
from aiortc.mediastreams import MediaStreamTrack

#: RTP's clock for video, and the time base of every video frame and packet alo-edge makes.
VIDEO_CLOCK_RATE = 90_000
VIDEO_TIME_BASE = fractions.Fraction(1, VIDEO_CLOCK_RATE)


class MediaSource(Protocol):
    """A capture device (camera, microphone) or a stand-in for one."""

    @property
    def kind(self) -> str:
        """``"video"`` or ``"audio"``."""
        ...

    @property
    def device_id(self) -> str:
        """A stable name of the input (ALO's ``inputDeviceIds``)."""
        ...

    @property
    def last_frame_at(self) -> float | None:
        """``time.monotonic()`` of the last frame the source produced (None: none yet)."""
        ...

    @property
    def frames_sent(self) -> int:
        """Frames (or encoded pictures) its tracks handed to senders, across connections."""
        ...

    @property
    def track(self) -> MediaStreamTrack:
        """The track a peer connection sends."""
        ...

    async def start(self) -> None:
        """Open the device; HardwareError when it is missing (a no-op for stand-ins)."""
        ...

    def stop(self) -> None:
        """Release the device; the track ends."""
        ...


class AudioSource(MediaSource, Protocol):
    """A microphone: a media source that can send silence instead of what it hears."""

    def set_muted(self, muted: bool) -> None:
        """Send silence (``True``) or the microphone again; the track stays live and paced."""
        ...


@runtime_checkable
class Restartable(Protocol):
    """A source that can be closed and reopened under the same live track.

    Source health restarts a real device that stopped delivering; a test pattern or
    a tone cannot stall on its own, so they do not offer this.
    """

    async def restart(self) -> None:
        """Close and reopen the device; the track stays live."""
        ...


class AudioSink(Protocol):
    """A loudspeaker (ALSA playback) or a stand-in: plays the operator's talk-back audio.

    ``write`` is called on the event loop for every decoded frame that arrives (48 kHz
    s16 from aiortc's Opus decoder); a real device blocks, so an implementation hands
    frames to its own thread through a bounded queue and never blocks the loop.
    """

    async def start(self) -> None:
        """Open the device; HardwareError when it is missing."""
        ...

    def write(self, frame: av.AudioFrame) -> None:
        """Queue ``frame`` for playback; drops (and counts) when the device falls behind."""
        ...

    def stop(self) -> None:
        """Release the device; later writes are ignored."""
        ...
