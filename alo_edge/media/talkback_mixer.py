"""Talk-back from a room: several remote voices mixed onto one speaker, each mutable here.

WHIP brings one talk-back track (:class:`~alo_edge.media.talkback.TalkbackPlayer`
plays it). A Janus VideoRoom brings one per participant who speaks, and a door has
one loudspeaker, so they are mixed: each voice is decoded into 20 ms chunks of
48 kHz mono in its own reader task, and one mixing task, paced by the clock, sums
one chunk per voice (muted voices contribute nothing) and hands the result to the
:class:`~alo_edge.media.base.AudioSink`.

While any voice is attached the speaker gets a frame every 20 ms, silence included:
a locally muted participant is heard as silence, not as a gap, and a real sound
card never underruns. Each voice buffers at most ``MAX_BUFFERED`` chunks (the
oldest go first), and waits for ``PREBUFFER`` chunks before it is heard, so network
jitter does not chop it.
"""

from __future__ import annotations

import asyncio
import collections
import fractions
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import av
import numpy as np
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from alo_edge.media.base import AudioSink

logger = logging.getLogger(__name__)

RATE = 48_000
PTIME = 0.020
CHUNK_SAMPLES = int(RATE * PTIME)
#: 200 ms of one voice may wait for the mixer; older chunks are dropped.
MAX_BUFFERED = 10
#: A voice is heard once 40 ms of it are buffered (again after each underrun).
PREBUFFER = 2
#: The mixing loop this far behind the clock (a stalled loop) restarts its pacing.
MAX_LAG_SECONDS = 0.2


@dataclass
class _Voice:
    track: MediaStreamTrack
    muted: bool = False
    chunks: collections.deque[np.ndarray] = field(
        default_factory=lambda: collections.deque(maxlen=MAX_BUFFERED)
    )
    playing: bool = False
    reader: asyncio.Task[None] | None = None


class TalkbackMixer:
    """Mixes the voices of several remote participants onto one :class:`AudioSink`.

    Call from the event loop. Owns one reader task per voice and one mixing task;
    :meth:`remove` ends a voice's reader, :meth:`stop` ends them all (the sink
    itself belongs to whoever built it).
    """

    def __init__(self, sink: AudioSink, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.sink = sink
        self._clock = clock
        self._voices: dict[str, _Voice] = {}
        self._muted: set[str] = set()
        self._retired: set[asyncio.Task[None]] = set()
        self._mixer: asyncio.Task[None] | None = None
        self._voices_changed = asyncio.Event()
        self._pts = 0
        #: Frames handed to the sink since start (silence included).
        self.frames_mixed = 0

    @property
    def voices(self) -> list[str]:
        """The keys (participant ids) of the voices attached now."""
        return list(self._voices)

    def is_muted(self, key: str) -> bool:
        """Whether the voice ``key`` is muted here (remembered while it is absent too)."""
        return key in self._muted

    def add(self, key: str, track: MediaStreamTrack) -> None:
        """Play ``track`` as the voice ``key`` (replacing an earlier track of that key)."""
        self.remove(key)
        voice = _Voice(track, muted=key in self._muted)
        voice.reader = asyncio.create_task(self._read(voice), name=f"alo-edge voice {key}")
        self._voices[key] = voice
        if self._mixer is None or self._mixer.done():
            self._mixer = asyncio.create_task(self._mix(), name="alo-edge talk-back mixer")
        self._voices_changed.set()

    def remove(self, key: str) -> None:
        """Stop playing the voice ``key`` (no-op when absent); its mute setting is kept."""
        voice = self._voices.pop(key, None)
        if voice is None or voice.reader is None:
            return
        voice.reader.cancel()
        # Cancelled here, awaited by stop(): removal happens inside synchronous callbacks.
        self._retired.add(voice.reader)
        voice.reader.add_done_callback(self._retired.discard)

    def set_muted(self, key: str, muted: bool) -> None:
        """Mute or unmute the voice ``key`` on this device only; takes effect within 20 ms."""
        if muted:
            self._muted.add(key)
        else:
            self._muted.discard(key)
        voice = self._voices.get(key)
        if voice is not None:
            voice.muted = muted

    async def stop(self) -> None:
        """End every reader and the mixing task."""
        for key in list(self._voices):
            self.remove(key)
        tasks = list(self._retired)
        if self._mixer is not None:
            self._mixer.cancel()
            tasks.append(self._mixer)
            self._mixer = None
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _read(self, voice: _Voice) -> None:
        resampler = av.AudioResampler(format="s16", layout="mono", rate=RATE)
        pending = np.zeros(0, dtype=np.int16)
        while True:
            try:
                frame = await voice.track.recv()
            except MediaStreamError:
                return  # the subscription ended; the transport removes the voice
            if not isinstance(frame, av.AudioFrame):
                continue
            for out in resampler.resample(frame):
                samples = out.to_ndarray().reshape(-1)[: out.samples]
                pending = np.concatenate((pending, samples.astype(np.int16)))
            while len(pending) >= CHUNK_SAMPLES:
                voice.chunks.append(pending[:CHUNK_SAMPLES])
                pending = pending[CHUNK_SAMPLES:]

    async def _mix(self) -> None:
        due: float | None = None
        while True:
            if not self._voices:
                self._voices_changed.clear()
                await self._voices_changed.wait()
                due = None
            now = self._clock()
            if due is None or now - due > MAX_LAG_SECONDS:
                due = now
            if due > now:
                await asyncio.sleep(due - now)
            due += PTIME
            self._write(self._next_chunk())

    def _next_chunk(self) -> np.ndarray:
        mixed = np.zeros(CHUNK_SAMPLES, dtype=np.int32)
        for voice in self._voices.values():
            if not voice.playing and len(voice.chunks) >= PREBUFFER:
                voice.playing = True
            if not voice.playing:
                continue
            if not voice.chunks:
                voice.playing = False  # an underrun: buffer again before playing on
                continue
            chunk = voice.chunks.popleft()
            if not voice.muted:
                mixed += chunk
        return np.clip(mixed, -32768, 32767).astype(np.int16)

    def _write(self, chunk: np.ndarray) -> None:
        frame = av.AudioFrame.from_ndarray(chunk.reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate = RATE
        frame.pts = self._pts
        frame.time_base = fractions.Fraction(1, RATE)
        self._pts += CHUNK_SAMPLES
        self.sink.write(frame)
        self.frames_mixed += 1
