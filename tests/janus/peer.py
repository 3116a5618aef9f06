"""The test's own Janus client: subscribes to the device, or publishes as a second participant.

Independent of the code under test on purpose: it speaks Janus's HTTP API (long-poll),
not the WebSocket API ``alo_edge.transport.janus`` uses, and builds its own aiortc
peer connections. It prints what it sees as JSON lines ``{"event": ..., ...}`` on
stdout. Run inside the test's namespace::

    python -m tests.janus.peer --url http://127.0.0.2:8088/janus --room 1234 MODE ...

Modes:

- ``subscribe --display NAME --seconds S``: wait for publisher NAME, subscribe to all
  its streams, decode them; reports ``connected``, ``first_frame`` (seconds since the
  join request and since the media path came up) and, at the end, ``stats`` (decoded
  video fps and audio frames per second after the first second, the audio's dominant
  frequency);
- ``publish --display NAME --tone HZ``: join and publish a tone (audio only); reports
  ``published`` with the participant id; SIGTERM leaves the room (``left``) and exits;
- ``expire --idle S``: create a session, stay silent ``S`` seconds, then send a
  keep-alive and report Janus's answer (``after_idle``): the control showing the
  server really expires idle sessions.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import secrets
import signal
import time
from typing import Any

import aiohttp
import av
import numpy as np
from aiortc import RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from alo_edge.media.synthetic import ToneTrack
from alo_edge.transport.ice import pin_host_addresses, rtc_configuration
from tests.media_support import dominant_frequency

ADDRESS = "127.0.0.2"
PLUGIN = "janus.plugin.videoroom"
STEP = 10.0


def emit(event: str, **fields: Any) -> None:
    print(json.dumps({"event": event, "t": round(time.monotonic(), 4), **fields}), flush=True)


class JanusHttp:
    """A Janus session over the HTTP API: requests, and a long-poll routing events."""

    def __init__(self, base: str, http: aiohttp.ClientSession) -> None:
        self.base = base
        self.http = http
        self.session_id = 0
        self._waiting: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self._poller: asyncio.Task[None] | None = None

    async def _post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        async with self.http.post(f"{self.base}{path}", json=body, timeout=STEP) as response:
            reply: dict[str, Any] = await response.json(content_type=None)
            return reply

    async def create(self, *, poll: bool = True) -> int:
        reply = await self._post("", {"janus": "create", "transaction": "create"})
        self.session_id = int(reply["data"]["id"])
        if poll:
            self._poller = asyncio.create_task(self._poll())
        return self.session_id

    async def _poll(self) -> None:
        while True:
            url = f"{self.base}/{self.session_id}?maxev=10"
            async with self.http.get(url, timeout=40) as response:
                events = await response.json(content_type=None)
            for event in events if isinstance(events, list) else [events]:
                waiter = self._waiting.get(event.get("transaction", ""))
                if waiter is not None and event.get("janus") != "ack" and not waiter.done():
                    waiter.set_result(event)

    async def request(self, body: dict[str, Any], handle: int | None = None) -> dict[str, Any]:
        transaction = secrets.token_hex(6)
        waiter: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._waiting[transaction] = waiter  # before the POST: the event may come first
        path = f"/{self.session_id}" + (f"/{handle}" if handle is not None else "")
        try:
            reply = await self._post(path, {**body, "transaction": transaction})
            if reply.get("janus") == "ack":
                reply = await asyncio.wait_for(waiter, STEP)
        finally:
            self._waiting.pop(transaction, None)
        if reply.get("janus") == "error":
            raise RuntimeError(f"Janus error: {reply['error']}")
        return reply

    async def attach(self) -> int:
        reply = await self.request({"janus": "attach", "plugin": PLUGIN})
        return int(reply["data"]["id"])

    async def message(
        self, handle: int, body: dict[str, Any], jsep: dict[str, str] | None = None
    ) -> tuple[dict[str, Any], dict[str, Any] | None]:
        request: dict[str, Any] = {"janus": "message", "body": body}
        if jsep is not None:
            request["jsep"] = jsep
        reply = await self.request(request, handle)
        data = reply["plugindata"]["data"]
        if "error" in data:
            raise RuntimeError(f"VideoRoom error: {data}")
        return data, reply.get("jsep")

    async def close(self) -> None:
        if self._poller is not None:
            self._poller.cancel()
            await asyncio.gather(self._poller, return_exceptions=True)
        with contextlib.suppress(Exception):
            await self._post(f"/{self.session_id}", {"janus": "destroy", "transaction": "bye"})


async def wait_connected(pc: RTCPeerConnection) -> None:
    async with asyncio.timeout(STEP):
        while pc.connectionState != "connected":
            if pc.connectionState in ("failed", "closed"):
                raise RuntimeError(f"peer connection {pc.connectionState}")
            await asyncio.sleep(0.005)


async def find_publisher(janus: JanusHttp, room: int, display: str, within: float) -> int:
    lister = await janus.attach()
    deadline = time.monotonic() + within
    while True:
        data, _ = await janus.message(lister, {"request": "listparticipants", "room": room})
        for participant in data.get("participants", []):
            if participant.get("display") == display and participant.get("publisher"):
                return int(participant["id"])
        if time.monotonic() > deadline:
            raise RuntimeError(f"no publisher {display!r} in room {room}: {data}")
        await asyncio.sleep(0.1)


async def subscribe(args: argparse.Namespace, janus: JanusHttp) -> None:
    feed = await find_publisher(janus, args.room, args.display, args.wait)
    emit("publisher_found", id=feed)
    handle = await janus.attach()
    pc = RTCPeerConnection(configuration=rtc_configuration([]))
    tracks: list[MediaStreamTrack] = []
    pc.on("track", tracks.append)
    joined_at = time.monotonic()
    _, offer = await janus.message(
        handle, {"request": "join", "ptype": "subscriber", "room": args.room,
                 "streams": [{"feed": feed}]},
    )  # fmt: skip
    assert offer is not None
    await pc.setRemoteDescription(RTCSessionDescription(sdp=offer["sdp"], type="offer"))
    await pc.setLocalDescription(await pc.createAnswer())
    await janus.message(
        handle, {"request": "start"}, {"type": "answer", "sdp": pc.localDescription.sdp}
    )
    await wait_connected(pc)
    connected_at = time.monotonic()
    emit("connected", since_join=round(connected_at - joined_at, 4), kinds=[t.kind for t in tracks])
    video_times: list[float] = []
    audio_times: list[float] = []
    audio_tail: list[np.ndarray] = []
    size: list[int] = []

    async def read(track: MediaStreamTrack) -> None:
        while True:
            try:
                frame = await track.recv()
            except MediaStreamError:
                return
            now = time.monotonic()
            if isinstance(frame, av.VideoFrame):
                if not video_times:
                    size[:] = [frame.width, frame.height]
                    emit(
                        "first_frame",
                        since_join=round(now - joined_at, 4),
                        since_connected=round(now - connected_at, 4),
                        width=frame.width,
                        height=frame.height,
                    )
                video_times.append(now)
            elif isinstance(frame, av.AudioFrame):
                audio_times.append(now)
                samples = frame.to_ndarray().reshape(-1)
                channels = len(frame.layout.channels)
                audio_tail.append(samples[::channels].copy())
                del audio_tail[:-50]

    readers = [asyncio.create_task(read(track)) for track in tracks]
    await asyncio.sleep(args.seconds)
    for reader in readers:
        reader.cancel()
    await asyncio.gather(*readers, return_exceptions=True)
    ended = time.monotonic()

    def rate(times: list[float]) -> float:
        if not times:
            return 0.0
        start = times[0] + 1.0
        counted = [t for t in times if t >= start]
        return round(len(counted) / max(ended - start, 1e-6), 2)

    tail = np.concatenate(audio_tail) if audio_tail else np.zeros(0, dtype=np.int16)
    emit(
        "stats",
        video_frames=len(video_times),
        video_fps=rate(video_times),
        audio_frames=len(audio_times),
        audio_fps=rate(audio_times),
        audio_frequency=round(dominant_frequency(tail, 48_000), 1) if len(tail) else 0.0,
        audio_peak=int(np.abs(tail.astype(np.int32)).max()) if len(tail) else 0,
        size=size,
    )
    await pc.close()


async def publish(args: argparse.Namespace, janus: JanusHttp) -> None:
    handle = await janus.attach()
    joined, _ = await janus.message(
        handle, {"request": "join", "ptype": "publisher", "room": args.room,
                 "display": args.display},
    )  # fmt: skip
    pc = RTCPeerConnection(configuration=rtc_configuration([]))
    pc.addTransceiver(ToneTrack(args.tone), direction="sendonly")
    await pc.setLocalDescription(await pc.createOffer())
    _, answer = await janus.message(
        handle, {"request": "configure"}, {"type": "offer", "sdp": pc.localDescription.sdp}
    )
    assert answer is not None
    await pc.setRemoteDescription(RTCSessionDescription(sdp=answer["sdp"], type="answer"))
    await wait_connected(pc)
    emit("published", id=joined["id"])
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await stop.wait()
    await janus.message(handle, {"request": "leave"})
    await pc.close()
    emit("left")


async def expire(args: argparse.Namespace, janus: JanusHttp) -> None:
    session = await janus.create(poll=False)
    emit("created", id=session)
    await asyncio.sleep(args.idle)
    reply = await janus._post(
        f"/{session}", {"janus": "keepalive", "session_id": session, "transaction": "late"}
    )
    error = reply.get("error") or {}
    emit("after_idle", janus=reply.get("janus"), code=error.get("code"), reason=error.get("reason"))


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--room", type=int, required=True)
    modes = parser.add_subparsers(dest="mode", required=True)
    sub = modes.add_parser("subscribe")
    sub.add_argument("--display", required=True)
    sub.add_argument("--seconds", type=float, default=4.0)
    sub.add_argument("--wait", type=float, default=STEP)
    pub = modes.add_parser("publish")
    pub.add_argument("--display", required=True)
    pub.add_argument("--tone", type=float, default=1000.0)
    idle = modes.add_parser("expire")
    idle.add_argument("--idle", type=float, required=True)
    args = parser.parse_args()
    pin_host_addresses([ADDRESS])
    async with aiohttp.ClientSession() as http:
        janus = JanusHttp(args.url, http)
        try:
            if args.mode == "expire":
                await expire(args, janus)
                return
            await janus.create()
            await {"subscribe": subscribe, "publish": publish}[args.mode](args, janus)
        finally:
            await janus.close()


if __name__ == "__main__":
    asyncio.run(main())
