"""A room around a device's ALSA speaker and microphone, and an operator at the far end.

The device runs as a real ``alo-edge`` process whose ALSA devices are ``type file``
PCMs in an ``.asoundrc`` the test points HOME at:

- the speaker (``room_speaker``) writes a plain file; :class:`LiveRoom` reads it as it
  grows, like a sound card playing it (a 60 ms buffer, an underrun plays silence);
- the microphone (``room_mic``) reads a FIFO that :class:`LiveRoom` writes in real
  time, 20 ms at a time (alsa-lib's file plugin reads exactly one period per read):
  what the speaker played, through an echo path (delay + RT60 0.3 s impulse
  response), plus near-end speech and the room's noise.

:class:`FarEnd` is the operator: an aiortc peer on the lab's live view that sends
speech as talk-back (the lab relays it to the device over WHIP) and records what
the device sends back, which is what an operator would hear.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import fractions
import os
import threading
import time
import urllib.request
from pathlib import Path

import av
import numpy as np
from aiortc import RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from alo_edge.tools import room
from alo_edge.transport.ice import rtc_configuration

RATE = room.RATE
BLOCK = 2 * room.FRAME  # 20 ms: one ALSA period of the device's microphone
SPEAKER_BUFFER = 3 * room.FRAME  # 30 ms queued before the "card" starts playing
OPEN_RETRY_SECONDS = 0.02


def write_asoundrc(home: Path, *, mic: str | None, speaker: str | None) -> None:
    """``room_mic`` reads ``mic`` (a FIFO or file), ``room_speaker`` writes ``speaker``.

    None leaves the PCM undefined: opening it fails, as an unplugged card does.
    """
    lines = []
    if mic is not None:
        lines.append(
            f'pcm.room_mic {{ type file; slave.pcm "null"; file "/dev/null"; '
            f'infile "{mic}"; format "raw" }}'
        )
    if speaker is not None:
        lines.append(
            f'pcm.room_speaker {{ type file; slave.pcm "null"; file "{speaker}"; format "raw" }}'
        )
    (home / ".asoundrc").write_text("\n".join(lines) + "\n", encoding="utf-8")


class LiveRoom:
    """Couples the device's speaker file to its microphone FIFO, in real time, in a thread.

    ``coupling`` scales the echo (0: a speaker the microphone never hears);
    ``noise_dbfs`` is the room's white noise. Everything it made is kept for the test:
    :meth:`signals` returns (played, echo, near, microphone) as float arrays.
    """

    def __init__(
        self,
        home: Path,
        *,
        delay_ms: float = 60.0,
        coupling: float = 0.3,
        noise_dbfs: float = -60.0,
        seed: int = 5,
    ) -> None:
        self.speaker_file = home / "speaker.raw"
        self.mic_fifo = home / "mic.fifo"
        os.mkfifo(self.mic_fifo)
        self._path = room.EchoPath(room.room_impulse(delay_ms) * coupling, BLOCK)
        self._noise = 10 ** (noise_dbfs / 20) * np.sqrt(3)  # uniform noise of that RMS
        self._rng = np.random.default_rng(seed)
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._near: list[np.ndarray] = []
        self._played: list[np.ndarray] = []
        self._echo: list[np.ndarray] = []
        self._near_heard: list[np.ndarray] = []
        self._mic: list[np.ndarray] = []
        self._times: list[float] = []
        self._speaker = np.zeros(0)
        self._playing = False
        self._offset = 0
        self._thread = threading.Thread(target=self._run, name="room", daemon=True)

    def __enter__(self) -> LiveRoom:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)

    def say(self, samples: np.ndarray) -> None:
        """The visitor at the door says ``samples`` (float, full scale 1.0) from now on."""
        with self._lock:
            self._near.append(samples)

    @property
    def blocks(self) -> int:
        """20 ms blocks written to the microphone so far."""
        with self._lock:
            return len(self._mic)

    def between(self, start: float, end: float) -> dict[str, np.ndarray]:
        """What the room made between two ``time.monotonic()`` marks: ``played`` (by the
        speaker), ``echo``, ``near`` (the visitor) and ``mic``, float full scale 1.0."""
        with self._lock:
            chosen = [i for i, at in enumerate(self._times) if start <= at < end]
            named = {
                "played": self._played,
                "echo": self._echo,
                "near": self._near_heard,
                "mic": self._mic,
            }
            return {
                name: np.concatenate([parts[i] for i in chosen]) if chosen else np.zeros(0)
                for name, parts in named.items()
            }

    def speaker_active_since(self, start: float, level_dbfs: float = -45.0) -> float | None:
        """When the speaker first played above ``level_dbfs`` after ``start`` (None: not yet)."""
        with self._lock:
            for at, played in zip(self._times, self._played, strict=True):
                if at >= start and room.level_db(played) > level_dbfs:
                    return at
        return None

    def _run(self) -> None:
        while not self._stop.is_set():
            fifo = self._open_fifo()
            if fifo is None:
                return
            with contextlib.suppress(BrokenPipeError), os.fdopen(fifo, "wb", buffering=0) as out:
                self._play(out)

    def _open_fifo(self) -> int | None:
        # Non-blocking open fails (ENXIO) until the device opens its end: retry, bounded
        # by the test's own stop.
        while not self._stop.is_set():
            try:
                fd = os.open(self.mic_fifo, os.O_WRONLY | os.O_NONBLOCK)
            except OSError as exc:
                if exc.errno != errno.ENXIO:
                    raise
                self._stop.wait(OPEN_RETRY_SECONDS)
                continue
            os.set_blocking(fd, True)
            return fd
        return None

    def _play(self, out: object) -> None:
        started = time.monotonic()
        sent = 0
        while not self._stop.is_set():
            block = self._next_block()
            out.write(room.to_int16(block).tobytes())  # type: ignore[attr-defined]
            sent += 1
            wait = started + sent * BLOCK / RATE - time.monotonic()
            if wait > 0:
                self._stop.wait(wait)

    def _next_block(self) -> np.ndarray:
        played = self._speaker_block()
        echo = self._path.push(played)
        with self._lock:
            near = np.zeros(BLOCK)
            filled = 0
            while self._near and filled < BLOCK:
                take = self._near[0][: BLOCK - filled]
                near[filled : filled + len(take)] = take
                filled += len(take)
                rest = self._near[0][len(take) :]
                if len(rest):
                    self._near[0] = rest
                else:
                    self._near.pop(0)
            noise = self._rng.uniform(-self._noise, self._noise, BLOCK)
            mic = echo + near + noise
            self._played.append(played)
            self._echo.append(echo)
            self._near_heard.append(near)
            self._mic.append(mic)
            self._times.append(time.monotonic())
        return mic

    def _speaker_block(self) -> np.ndarray:
        with contextlib.suppress(FileNotFoundError), open(self.speaker_file, "rb") as speaker:
            size = os.fstat(speaker.fileno()).st_size
            if size < self._offset:
                self._offset = 0  # the device reopened (truncated) its speaker
            speaker.seek(self._offset)
            data = speaker.read(size - self._offset)
            data = data[: len(data) // 2 * 2]
            self._offset += len(data)
            if data:
                fresh = np.frombuffer(data, dtype="<i2").astype(np.float64) / 32768.0
                self._speaker = np.concatenate((self._speaker, fresh))
        if not self._playing and len(self._speaker) >= SPEAKER_BUFFER:
            self._playing = True
        if not self._playing or len(self._speaker) < BLOCK:
            self._playing = False  # an underrun: silence until the buffer refills
            return np.zeros(BLOCK)
        block, self._speaker = self._speaker[:BLOCK], self._speaker[BLOCK:]
        return block


class SpeechTrack(MediaStreamTrack):
    """A paced 20 ms mono track: ``samples`` once when :meth:`speak` is called, else silence."""

    kind = "audio"

    def __init__(self) -> None:
        super().__init__()
        self._queue = np.zeros(0)
        self._sent = 0
        self._start: float | None = None

    def speak(self, samples: np.ndarray) -> None:
        self._queue = np.concatenate((self._queue, samples))

    @property
    def speaking(self) -> bool:
        return len(self._queue) > 0

    async def recv(self) -> av.AudioFrame:
        if self.readyState != "live":
            raise MediaStreamError
        if self._start is None:
            self._start = time.monotonic()
        wait = self._start + self._sent / RATE - time.monotonic()
        if wait > 0:
            await asyncio.sleep(wait)
        chunk = np.zeros(BLOCK)
        take = self._queue[:BLOCK]
        chunk[: len(take)] = take
        self._queue = self._queue[len(take) :]
        frame = av.AudioFrame.from_ndarray(
            room.to_int16(chunk).reshape(1, -1), format="s16", layout="mono"
        )
        frame.sample_rate = RATE
        frame.pts = self._sent
        frame.time_base = fractions.Fraction(1, RATE)
        self._sent += BLOCK
        return frame


class FarEnd:
    """The operator on the lab's live view: talks (talk-back) and hears the device."""

    def __init__(self, lab_url: str, channel: str) -> None:
        self._url = f"{lab_url}/view/{channel}/offer"
        self.voice = SpeechTrack()
        self._pc = RTCPeerConnection(configuration=rtc_configuration([]))
        self._heard: list[tuple[float, np.ndarray]] = []
        self._reader: asyncio.Task[None] | None = None

    async def connect(self) -> None:
        self._pc.addTransceiver(self.voice, direction="sendrecv")
        self._pc.addTransceiver("video", direction="recvonly")
        self._pc.on("track", self._on_track)
        await self._pc.setLocalDescription(await self._pc.createOffer())
        answer = await asyncio.to_thread(self._post, self._pc.localDescription.sdp)
        await self._pc.setRemoteDescription(RTCSessionDescription(answer, "answer"))

    def _post(self, sdp: str) -> str:
        request = urllib.request.Request(
            self._url, data=sdp.encode(), headers={"Content-Type": "application/sdp"}
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            return str(response.read().decode())

    def _on_track(self, track: MediaStreamTrack) -> None:
        if track.kind == "audio":
            self._reader = asyncio.create_task(self._read(track))

    async def _read(self, track: MediaStreamTrack) -> None:
        resampler = av.AudioResampler(format="s16", layout="mono", rate=RATE)
        while True:
            try:
                frame = await track.recv()
            except MediaStreamError:
                return
            for out in resampler.resample(frame):
                samples = out.to_ndarray().reshape(-1)[: out.samples]
                self._heard.append((time.monotonic(), samples.astype(np.float64) / 32768.0))

    def heard_between(self, start: float, end: float) -> np.ndarray:
        """What the operator heard from the device between two ``time.monotonic()`` marks."""
        parts = [s for at, s in self._heard if start <= at < end]
        return np.concatenate(parts) if parts else np.zeros(0)

    async def close(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
            await asyncio.gather(self._reader, return_exceptions=True)
        await self._pc.close()
        self.voice.stop()
