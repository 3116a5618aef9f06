"""The life cycle shared by the capture adapters: a blocking device behind one track.

The ALSA microphone, the V4L2 camera and the picamera2 camera differ in how they
open, read and close their hardware, and in nothing else. Each one's driver calls
block, so opening and closing run in a worker thread and never stall the event
loop; what the device produces crosses into asyncio through one
:class:`~alo_edge.media.bridge.ThreadBridge`; and the track peer connections send
comes from a :class:`~alo_edge.media.tracks.TrackSlot`, so a reconnect gets a fresh
track over the device that stays open. :class:`ThreadedDevice` is that life cycle,
written once: an adapter supplies ``_open()`` and ``_close()``.
"""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Generic, TypeVar

from alo_edge.media.bridge import ThreadBridge
from alo_edge.media.tracks import TrackSlot, TrackT

ItemT = TypeVar("ItemT")


class ThreadedDevice(ABC, Generic[ItemT, TrackT]):
    """A capture device whose items (frames, access units) reach a track through a bridge.

    ``queue_size`` bounds the bridge (:attr:`_bridge`): the adapter's device thread
    calls ``self._bridge.push()``. ``new_track`` builds a track over that bridge;
    it is called once here and again whenever aiortc has ended the current track.

    :meth:`start` opens the device, :meth:`stop` closes it for good, and
    :meth:`restart` closes and reopens it under the same live track (source health
    calls it when the device stops delivering).
    """

    def __init__(self, queue_size: int, new_track: Callable[[ThreadBridge[ItemT]], TrackT]) -> None:
        self._bridge: ThreadBridge[ItemT] = ThreadBridge(queue_size)
        self._tracks: TrackSlot[TrackT] = TrackSlot(lambda: new_track(self._bridge))

    @property
    def track(self) -> TrackT:
        """The track a peer connection sends (a fresh one once aiortc ended the last)."""
        return self._tracks.get()

    @property
    def last_frame_at(self) -> float | None:
        """``time.monotonic()`` of the last item that reached the loop (None: none yet)."""
        return self._bridge.last_item_at

    @property
    def frames_sent(self) -> int:
        """Items the tracks took from the device so far, across connections and restarts."""
        return self._bridge.delivered

    async def start(self) -> None:
        """Open the device and start delivering; HardwareError when it cannot be opened."""
        self._bridge.attach(asyncio.get_running_loop())
        await asyncio.to_thread(self._open)

    async def restart(self) -> None:
        """Close and reopen the device (it stopped delivering); the track stays live.

        Items still queued from the old device are forgotten, so the track resumes
        with the reopened device's first ones.
        """
        await asyncio.to_thread(self._close)
        self._bridge.clear()
        self._before_reopen()
        await asyncio.to_thread(self._open)

    def stop(self) -> None:
        """End the track for good and release the device."""
        self._tracks.stop()
        self._close()

    def _before_reopen(self) -> None:
        """Hook: runs on the loop during :meth:`restart`, between close and reopen.

        The bridge is already cleared then. By default nothing happens; a source of
        encoded pictures uses it to wait for the reopened encoder's first keyframe,
        since nothing before it can be decoded without the pictures that are gone.
        """

    @abstractmethod
    def _open(self) -> None:
        """Open the device and start its thread; blocking, run in a worker thread.

        Raises HardwareError when the device is missing, busy or refuses its settings.
        """

    @abstractmethod
    def _close(self) -> None:
        """Stop delivering and release the device; blocking, and a no-op when closed.

        Run in a worker thread by :meth:`restart`, and directly by :meth:`stop`.
        """
