"""One live track per connection over a device that outlives them all.

aiortc's ``RTCRtpSender`` stops the track it sends when its peer connection closes,
and a stopped track cannot be restarted. A device (camera, microphone, file) is
opened once and reconnects build fresh peer connections, so a source hands out its
current track and makes a new one over the same device once aiortc has ended it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

from aiortc.mediastreams import MediaStreamTrack

TrackT = TypeVar("TrackT", bound=MediaStreamTrack)


class TrackSlot(Generic[TrackT]):
    """The current track of a source; a new one from ``factory`` after the last ended."""

    def __init__(self, factory: Callable[[], TrackT]) -> None:
        self._factory = factory
        self._track = factory()
        self._stopped = False

    def get(self) -> TrackT:
        """A live track, unless :meth:`stop` was called (then the ended last one)."""
        if self._track.readyState == "ended" and not self._stopped:
            self._track = self._factory()
        return self._track

    @property
    def current(self) -> TrackT:
        """The track handed out last, live or not."""
        return self._track

    def stop(self) -> None:
        """End the current track for good: the source is being released."""
        self._stopped = True
        self._track.stop()
