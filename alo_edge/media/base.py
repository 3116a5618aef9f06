"""The media contract: every source, real or synthetic, hands aiortc a track.

A source is opened once and its track reused across reconnects; each new peer
connection only attaches it to a new sender.
"""

from __future__ import annotations

from typing import Protocol

import av
from aiortc.mediastreams import MediaStreamTrack


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
    def track(self) -> MediaStreamTrack:
        """The track a peer connection sends."""
        ...

    def stop(self) -> None:
        """Release the device; the track ends."""
        ...

    # Optional, read with getattr by the status endpoint: ``frames_sent: int``, the frames
    # the source's tracks have handed to senders across every connection (a counter).


class AudioSink(Protocol):
    """A loudspeaker (ALSA playback) or a stand-in: plays the operator's talk-back audio.

    ``write`` is called on the event loop for every decoded frame that arrives (48 kHz
    s16 from aiortc's Opus decoder); a real device blocks, so an implementation hands
    frames to its own thread through a bounded queue and never blocks the loop.
    """

    def write(self, frame: av.AudioFrame) -> None:
        """Queue ``frame`` for playback; drops (and counts) when the device falls behind."""
        ...

    def stop(self) -> None:
        """Release the device; later writes are ignored."""
        ...
