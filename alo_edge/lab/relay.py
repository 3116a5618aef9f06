"""Live view: each channel's media relayed to browsers, and their talk-back to the device.

One upstream, many viewers. The ingest session decodes the device's media anyway (its
counters prove the media is decodable), so it pushes every decoded frame into the
channel's :class:`LiveFeed`; one aiortc ``MediaRelay`` reads each feed and fans it out
to every viewer's peer connection. The feed outlives ingest sessions: when the device
reconnects, viewers keep their peer connection and the picture resumes.

Talk-back runs the other way: each viewer's microphone track (sent only while the page's
push-to-talk button is held) is mixed by the channel's :class:`ViewerMicrophoneMix` into one
paced track, silence when nobody talks, which the ingest session sends back to the
device on the sendrecv audio transceiver the device offered.
"""

from __future__ import annotations

import asyncio
import contextlib
import fractions
import logging
import secrets
import time
from collections import deque
from collections.abc import Callable
from typing import Any

import av
import numpy as np
from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc.contrib.media import MediaRelay
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from alo_edge.media.base import VIDEO_CLOCK_RATE, VIDEO_TIME_BASE

logger = logging.getLogger(__name__)

TALKBACK_RATE = 48_000
TALKBACK_SAMPLES = 960  # 20 ms, Opus's usual frame
#: Talk-back queued per viewer before the oldest is dropped (latency bound: 200 ms).
TALKBACK_QUEUE_FRAMES = 10
#: A viewer whose microphone delivered a frame this recently counts as talking.
TALKING_WINDOW_SECONDS = 0.3
#: A 2-core lab re-encodes the picture once per viewer; more would starve the ingest.
MAX_VIEWERS_PER_CHANNEL = 8
#: Device-reported states kept per channel for the view page's timeline.
TIMELINE_LENGTH = 100


class ViewerLimitError(RuntimeError):
    """The channel already has :data:`MAX_VIEWERS_PER_CHANNEL` viewers."""


class LiveFeed(MediaStreamTrack):
    """Frames pushed by whichever ingest session is current, pulled by one reader.

    ``push`` never blocks and keeps at most ``maxsize`` frames (live media prefers fresh
    over complete). Timestamps are re-stamped on the feed's own clock, because a new
    ingest session starts a new RTP timeline and encoders want one monotonic timeline.
    """

    def __init__(self, kind: str, maxsize: int) -> None:
        super().__init__()
        self.kind = kind
        self._queue: asyncio.Queue[av.VideoFrame | av.AudioFrame | None] = asyncio.Queue(maxsize)
        self._started_at: float | None = None
        self._samples = 0

    def push(self, frame: av.VideoFrame | av.AudioFrame) -> None:
        """Offer one decoded frame; the oldest queued frame is dropped when full."""
        if self.readyState != "live":
            return
        if self._queue.full():
            self._queue.get_nowait()
        self._queue.put_nowait(frame)

    async def recv(self) -> av.VideoFrame | av.AudioFrame:
        if self.readyState != "live":
            raise MediaStreamError
        frame = await self._queue.get()
        if frame is None:
            raise MediaStreamError
        if isinstance(frame, av.AudioFrame):
            frame.pts = self._samples
            frame.time_base = fractions.Fraction(1, frame.sample_rate)
            self._samples += frame.samples
        else:
            now = time.monotonic()
            if self._started_at is None:
                self._started_at = now
            frame.pts = int((now - self._started_at) * VIDEO_CLOCK_RATE)
            frame.time_base = VIDEO_TIME_BASE
        return frame

    def stop(self) -> None:
        super().stop()
        # Wake a reader waiting in recv(): the feed is over for good.
        with contextlib.suppress(asyncio.QueueFull):
            if self._queue.full():
                self._queue.get_nowait()
            self._queue.put_nowait(None)


class ViewerMicrophoneMix(MediaStreamTrack):
    """A paced 20 ms 48 kHz stereo track: the sum of every talking viewer, else silence.

    The lab's side of talk-back (viewers' microphones mixed for the device); not the
    device's ``alo_edge.media.talkback_mixer.TalkbackMixer``, which mixes what it plays.

    Silence keeps flowing while nobody talks, so the device's speaker sees one steady
    stream and an operator's first word is not lost to a codec or jitter-buffer restart.
    """

    kind = "audio"

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self._clock = clock
        self._inputs: dict[str, deque[np.ndarray]] = {}
        self._resamplers: dict[str, av.AudioResampler] = {}
        self._last_input_at: dict[str, float] = {}
        self._started_at: float | None = None
        self._sent = 0

    def add_input(self, key: str) -> None:
        """Start accepting frames from the viewer ``key``."""
        self._inputs[key] = deque(maxlen=TALKBACK_QUEUE_FRAMES)
        self._resamplers[key] = av.AudioResampler(
            format="s16", layout="stereo", rate=TALKBACK_RATE, frame_size=TALKBACK_SAMPLES
        )

    def remove_input(self, key: str) -> None:
        """Forget the viewer ``key`` and whatever it had queued."""
        self._inputs.pop(key, None)
        self._resamplers.pop(key, None)
        self._last_input_at.pop(key, None)

    def push(self, key: str, frame: av.AudioFrame) -> None:
        """Queue one of ``key``'s microphone frames (any rate or layout) for mixing."""
        queue = self._inputs.get(key)
        if queue is None:
            return
        for chunk in self._resamplers[key].resample(frame):
            queue.append(chunk.to_ndarray().reshape(-1))
        self._last_input_at[key] = self._clock()

    def talking(self) -> int:
        """How many viewers delivered microphone audio in the last few hundred ms."""
        horizon = self._clock() - TALKING_WINDOW_SECONDS
        return sum(1 for at in self._last_input_at.values() if at > horizon)

    def mix_next(self) -> np.ndarray:
        """The next 20 ms: one queued chunk of every input summed (clipped), or zeros."""
        mixed = np.zeros(TALKBACK_SAMPLES * 2, dtype=np.int32)
        for queue in self._inputs.values():
            if queue:
                chunk = queue.popleft()
                mixed[: chunk.size] += chunk[: mixed.size]
        return np.clip(mixed, -32768, 32767).astype(np.int16)

    async def recv(self) -> av.AudioFrame:
        if self.readyState != "live":
            raise MediaStreamError
        if self._started_at is None:
            self._started_at = self._clock()
        wait = self._started_at + self._sent / TALKBACK_RATE - self._clock()
        if wait > 0:
            await asyncio.sleep(wait)
        frame = av.AudioFrame.from_ndarray(
            self.mix_next().reshape(1, -1), format="s16", layout="stereo"
        )
        frame.sample_rate = TALKBACK_RATE
        frame.pts = self._sent
        frame.time_base = fractions.Fraction(1, TALKBACK_RATE)
        self._sent += TALKBACK_SAMPLES
        return frame


class Viewer:
    """One browser watching a channel: its peer connection and its microphone reader."""

    def __init__(self, viewer_id: str, pc: RTCPeerConnection) -> None:
        self.viewer_id = viewer_id
        self.pc = pc
        self.tasks: set[asyncio.Task[None]] = set()


class LiveChannel:
    """A channel's live side: feeds, relay, viewers, talk-back mixer, device timeline."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.video = LiveFeed("video", maxsize=1)
        self.audio = LiveFeed("audio", maxsize=10)
        self.talkback = ViewerMicrophoneMix()
        self._relay = MediaRelay()
        self._viewers: dict[str, Viewer] = {}
        self._closing: set[asyncio.Task[None]] = set()
        self.timeline: deque[dict[str, Any]] = deque(maxlen=TIMELINE_LENGTH)
        self._next_seq = 0

    @property
    def viewer_count(self) -> int:
        """Viewers with a peer connection that is not closed yet."""
        return len(self._viewers)

    def push(self, kind: str, frame: av.VideoFrame | av.AudioFrame) -> None:
        """Hand a decoded frame from the current ingest session to the viewers."""
        (self.video if kind == "video" else self.audio).push(frame)

    def talkback_track(self) -> MediaStreamTrack:
        """A new reader of the talk-back mix, for one ingest session's audio sender.

        A proxy, because aiortc stops the track a sender sends when its peer connection
        closes, and the mixer must outlive every session.
        """
        return self._relay.subscribe(self.talkback, buffered=False)

    def record_states(self, events: list[dict[str, Any]]) -> int:
        """Append device-reported states, numbered by ``seq``; a resent one is skipped.

        A device resends what it could not deliver, so the same ``(ts, state)`` may
        arrive twice; the page shows entries whose ``seq`` it has not seen.
        """
        seen = {(entry["ts"], entry["state"]) for entry in self.timeline}
        added = 0
        for event in events:
            if (event["ts"], event["state"]) in seen:
                continue
            self.timeline.append({**event, "seq": self._next_seq})
            self._next_seq += 1
            seen.add((event["ts"], event["state"]))
            added += 1
        return added

    async def add_viewer(self, offer_sdp: str, configuration: RTCConfiguration) -> tuple[str, str]:
        """Answer a browser's offer with the relayed tracks; returns ``(viewer_id, answer)``."""
        if len(self._viewers) >= MAX_VIEWERS_PER_CHANNEL:
            raise ViewerLimitError(f"channel {self.name!r} already has the most viewers allowed")
        viewer = Viewer(secrets.token_hex(8), RTCPeerConnection(configuration=configuration))
        pc = viewer.pc
        pc.on("track", lambda track: self._on_microphone(viewer, track))
        pc.on("connectionstatechange", lambda: self._on_viewer_state(viewer))
        self._viewers[viewer.viewer_id] = viewer
        try:
            await pc.setRemoteDescription(RTCSessionDescription(sdp=offer_sdp, type="offer"))
            for transceiver in pc.getTransceivers():
                video = transceiver.kind == "video"
                # Video unbuffered: a viewer whose encoder falls behind skips to the newest
                # picture. Audio buffered: a dropped 20 ms frame is an audible click.
                track = self._relay.subscribe(self.video if video else self.audio, not video)
                transceiver.sender.replaceTrack(track)
                transceiver.direction = "sendrecv" if transceiver.kind == "audio" else "sendonly"
            await pc.setLocalDescription(await pc.createAnswer())
        except BaseException:
            await self._close_viewer(viewer)
            raise
        logger.info("channel %s: viewer %s joined", self.name, viewer.viewer_id)
        answer: str = pc.localDescription.sdp
        return viewer.viewer_id, answer

    def _on_microphone(self, viewer: Viewer, track: MediaStreamTrack) -> None:
        if track.kind != "audio":
            return
        self.talkback.add_input(viewer.viewer_id)
        task = asyncio.create_task(self._read_microphone(viewer, track), name="lab-talkback")
        viewer.tasks.add(task)

    async def _read_microphone(self, viewer: Viewer, track: MediaStreamTrack) -> None:
        try:
            while True:
                frame = await track.recv()
                if isinstance(frame, av.AudioFrame):
                    self.talkback.push(viewer.viewer_id, frame)
        except MediaStreamError:
            pass
        finally:
            self.talkback.remove_input(viewer.viewer_id)

    def _on_viewer_state(self, viewer: Viewer) -> None:
        state = viewer.pc.connectionState
        logger.info("channel %s: viewer %s %s", self.name, viewer.viewer_id, state)
        if state in ("failed", "closed") and viewer.viewer_id in self._viewers:
            task = asyncio.create_task(self._close_viewer(viewer), name="lab-viewer-close")
            self._closing.add(task)
            task.add_done_callback(self._closing.discard)

    async def _close_viewer(self, viewer: Viewer) -> None:
        self._viewers.pop(viewer.viewer_id, None)
        await viewer.pc.close()
        for task in viewer.tasks:
            task.cancel()
        await asyncio.gather(*viewer.tasks, return_exceptions=True)
        self.talkback.remove_input(viewer.viewer_id)

    async def close(self) -> None:
        """Close every viewer and end the feeds (the relay's readers stop with them)."""
        await asyncio.gather(*(self._close_viewer(v) for v in list(self._viewers.values())))
        await asyncio.gather(*self._closing, return_exceptions=True)
        for track in (self.video, self.audio, self.talkback):
            track.stop()
