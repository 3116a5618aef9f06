"""The media contract: every source, real or synthetic, hands aiortc a track.

A source is opened once and its track reused across reconnects; each new peer
connection only attaches it to a new sender.
"""

from __future__ import annotations

from typing import Protocol

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
