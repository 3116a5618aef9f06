"""The one crossing from a device thread into asyncio, and the track that reads it.

Camera encoders, V4L2 readers and ALSA capture run on threads of their own. Each
device hands its output to exactly one :class:`ThreadBridge`: ``push()`` is the only
call such a thread makes into the event loop, through ``loop.call_soon_threadsafe``
into a bounded queue. Live media prefers fresh over complete, so a full queue drops
its oldest item and counts it.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Generic, TypeVar

from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from av.frame import Frame

T = TypeVar("T")


class ThreadBridge(Generic[T]):
    """A bounded queue a thread fills and the event loop drains.

    The loop is captured by :meth:`attach`, called from the owner's async ``start()``,
    never at construction (there may be no running loop then).
    """

    def __init__(self, maxsize: int) -> None:
        self._queue: asyncio.Queue[T] = asyncio.Queue(maxsize)
        self._loop: asyncio.AbstractEventLoop | None = None
        #: Items thrown away because the loop side did not keep up (or nobody read).
        self.dropped = 0
        #: ``time.monotonic()`` of the last item that reached the loop (None: none yet).
        self.last_item_at: float | None = None
        #: Items handed to the reader (the track) so far.
        self.delivered = 0

    def attach(self, loop: asyncio.AbstractEventLoop) -> None:
        """Deliver pushed items into ``loop`` from now on."""
        self._loop = loop

    def push(self, item: T) -> None:
        """Hand ``item`` to the loop; safe from any thread, never blocks."""
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        # The loop may close between the check and the call while the service stops.
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(self._put, item)

    def _put(self, item: T) -> None:
        if self._queue.full():
            self._queue.get_nowait()
            self.dropped += 1
        self._queue.put_nowait(item)
        self.last_item_at = time.monotonic()

    async def get(self) -> T:
        """The oldest item still queued; waits for one."""
        item = await self._queue.get()
        self.delivered += 1
        return item

    def clear(self) -> None:
        """Forget everything queued (a restarted device starts afresh)."""
        while not self._queue.empty():
            self._queue.get_nowait()


class BridgedTrack(MediaStreamTrack):
    """A track whose frames (``av.VideoFrame`` or ``av.AudioFrame``) come from a bridge.

    Frames arrive with their pts and time_base already set by the device side, and
    aiortc encodes them (VP8/H.264 for video, Opus for audio).
    """

    def __init__(self, kind: str, bridge: ThreadBridge[Frame]) -> None:
        super().__init__()
        self.kind = kind
        self._bridge = bridge

    async def recv(self) -> Frame:
        if self.readyState != "live":
            raise MediaStreamError
        return await self._bridge.get()
