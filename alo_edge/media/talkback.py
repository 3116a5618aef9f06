"""Talk-back: the operator's audio, received on the live connection, played on a sink.

Each connection that negotiated talk-back hands over the server's audio track once
(``PublishedTracks.on_remote_audio``); a reconnect hands over a new one, which
replaces the old reader. Frames go to the :class:`~alo_edge.media.base.AudioSink`
as they are decoded; the sink paces and buffers (a loudspeaker plays in real time).
"""

from __future__ import annotations

import asyncio
import logging
import time

import av
import numpy as np
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from alo_edge.media.base import AudioSink

logger = logging.getLogger(__name__)

#: A frame whose peak is above this share of full scale (-40 dBFS) carries a voice, not
#: the silence a far end sends while its talk button is up.
VOICE_PEAK = 0.01


class TalkbackPlayer:
    """Reads the current connection's talk-back track into an :class:`AudioSink`.

    Its one reader task is owned here: replaced by :meth:`play`, ended by :meth:`stop`.
    """

    def __init__(self, sink: AudioSink) -> None:
        self.sink = sink
        self._tasks: set[asyncio.Task[None]] = set()
        #: Decoded talk-back frames handed to the sink since start.
        self.frames_played = 0
        #: ``time.monotonic()`` of the last frame handed to the sink (None: none yet).
        self.last_frame_at: float | None = None
        #: ``time.monotonic()`` of the last frame louder than :data:`VOICE_PEAK` (None: none).
        self.last_voice_at: float | None = None

    def play(self, track: MediaStreamTrack) -> None:
        """Play ``track`` from now on (a new connection's track replaces the old one's)."""
        for older in self._tasks:
            older.cancel()
        task = asyncio.create_task(self._read(track), name="alo-edge talk-back")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        logger.info("talk-back: playing the server's audio")

    async def _read(self, track: MediaStreamTrack) -> None:
        while True:
            try:
                frame = await track.recv()
            except MediaStreamError:
                return  # the connection closed; the next one brings a new track
            if not isinstance(frame, av.AudioFrame):
                continue
            self.sink.write(frame)
            self.frames_played += 1
            self.last_frame_at = time.monotonic()
            if has_voice(frame):
                self.last_voice_at = self.last_frame_at

    async def stop(self) -> None:
        """End the reader (the sink itself belongs to whoever built it)."""
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def has_voice(frame: av.AudioFrame) -> bool:
    """True when ``frame`` peaks above :data:`VOICE_PEAK` of full scale."""
    samples = frame.to_ndarray()
    if samples.size == 0:
        return False
    if samples.dtype.kind == "f":
        return bool(np.abs(samples).max() > VOICE_PEAK)
    full_scale = 2.0 ** (8 * samples.dtype.itemsize - 1)  # s16: 32768
    return bool(np.abs(samples.astype(np.int64)).max() > VOICE_PEAK * full_scale)
