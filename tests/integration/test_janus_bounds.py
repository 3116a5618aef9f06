"""The Janus client's bounds against a scripted VideoRoom on 127.0.0.1: a crowded room and a
Janus that stops answering.

The fake speaks Janus's WebSocket API for a publisher and its talk-back subscribers, with
real aiortc peers on its side (the publisher's answer, one audio offer per subscription).
``hang()`` makes it take requests and answer none, as a SIGSTOPped Janus does (the real one
is in tests/janus). The device side is the real :class:`JanusTransport`.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiortc import RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamTrack

from alo_edge.media.synthetic import ToneTrack
from alo_edge.transport.base import Access, PublishedTracks
from alo_edge.transport.ice import pin_host_addresses
from alo_edge.transport.janus import JanusConnection, JanusTransport
from alo_edge.transport.janus.session import CLOSE_DEADLINE
from alo_edge.transport.room import Participant, RoomListener

pytestmark = pytest.mark.integration

ROOM = 1234
OTHERS = 20  # publishers already in the room, each with a voice
CAP = 16


class ScriptedRoom:
    """A Janus VideoRoom over the WebSocket API, as far as a publisher with talk-back needs."""

    def __init__(self) -> None:
        self.url = ""
        self.received: list[tuple[float, dict[str, Any]]] = []
        self.hung = False
        self._ids = itertools.count(1000)
        self._handles: dict[int, str] = {}  # handle -> "publisher" | "subscriber"
        self.peers: list[RTCPeerConnection] = []

    def hang(self) -> None:
        """From now on, take every request and answer none."""
        self.hung = True

    def requests(self, kind: str, body: str | None = None) -> list[tuple[float, dict[str, Any]]]:
        return [
            (at, r)
            for at, r in self.received
            if r["janus"] == kind and (body is None or r.get("body", {}).get("request") == body)
        ]

    async def handle(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(protocols=("janus-protocol",))
        await ws.prepare(request)
        async for message in ws:
            body = json.loads(message.data)
            self.received.append((time.monotonic(), body))
            if self.hung:
                continue
            for reply in await self.answer(body):
                await ws.send_str(json.dumps(reply))
        return ws

    async def answer(self, request: dict[str, Any]) -> list[dict[str, Any]]:
        kind, transaction = request["janus"], request["transaction"]
        if kind == "info":
            return [{"janus": "server_info", "transaction": transaction, "session-timeout": 60}]
        if kind == "keepalive":
            return [{"janus": "ack", "transaction": transaction}]
        if kind in ("create", "attach"):
            new_id = next(self._ids)
            return [{"janus": "success", "transaction": transaction, "data": {"id": new_id}}]
        if kind != "message":
            return [{"janus": "success", "transaction": transaction}]
        handle = request["handle_id"]
        body = request["body"]
        data: dict[str, Any] = {"videoroom": "event"}
        jsep: dict[str, str] | None = None
        if body["request"] == "join" and body["ptype"] == "publisher":
            others = [
                {"id": 100 + n, "display": f"guest {n}",
                 "streams": [{"type": "audio", "mid": "0"}]}
                for n in range(OTHERS)
            ]  # fmt: skip
            data = {"videoroom": "joined", "id": 1, "private_id": 77, "publishers": others}
        elif body["request"] == "configure":
            jsep = await self.publisher_answer(request["jsep"]["sdp"])
        elif body["request"] == "join":
            data = {"videoroom": "attached"}
            jsep = await self.voice_offer()
        ack = {"janus": "ack", "transaction": transaction}
        event: dict[str, Any] = {
            "janus": "event",
            "transaction": transaction,
            "sender": handle,
            "plugindata": {"plugin": "janus.plugin.videoroom", "data": data},
        }
        if jsep is not None:
            event["jsep"] = jsep
        return [ack, event]

    async def publisher_answer(self, offer: str) -> dict[str, str]:
        pc = RTCPeerConnection()
        self.peers.append(pc)
        await pc.setRemoteDescription(RTCSessionDescription(sdp=offer, type="offer"))
        await pc.setLocalDescription(await pc.createAnswer())
        return {"type": "answer", "sdp": pc.localDescription.sdp}

    async def voice_offer(self) -> dict[str, str]:
        pc = RTCPeerConnection()
        self.peers.append(pc)
        pc.addTrack(ToneTrack())
        await pc.setLocalDescription(await pc.createOffer())
        return {"type": "offer", "sdp": pc.localDescription.sdp}

    async def close(self) -> None:
        await asyncio.gather(*(pc.close() for pc in self.peers))


class Heard:
    """The room listener: who is there, whose voice arrived."""

    def __init__(self) -> None:
        self.participants: list[Participant] = []
        self.voices: dict[str, MediaStreamTrack | None] = {}

    def listener(self) -> RoomListener:
        return RoomListener(self._participants, lambda p: None, self._voice)

    def _participants(self, participants: Any) -> None:
        self.participants = list(participants)

    def _voice(self, participant_id: str, track: MediaStreamTrack | None) -> None:
        self.voices[participant_id] = track


@pytest.fixture
async def janus() -> AsyncIterator[ScriptedRoom]:
    pin_host_addresses(["127.0.0.1"])
    fake = ScriptedRoom()
    app = web.Application()
    app.router.add_get("/", fake.handle)
    runner = web.AppRunner(app, shutdown_timeout=0.5)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    fake.url = f"ws://127.0.0.1:{runner.addresses[0][1]}/"
    try:
        yield fake
    finally:
        await runner.cleanup()
        await fake.close()
        pin_host_addresses([])


async def until(condition: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"waited {timeout:g} s for {what}")
        await asyncio.sleep(0.05)


async def test_a_crowded_room_is_capped_and_a_hung_janus_is_left_within_the_deadline(
    janus: ScriptedRoom, caplog: pytest.LogCaptureFixture
) -> None:
    heard = Heard()
    transport = JanusTransport(
        user_id="door-1", display="Front door", room=ROOM, talkback=True, max_participants=CAP
    )
    microphone = ToneTrack()
    tracks = PublishedTracks(video=None, audio=microphone, offer_video=False)
    async with aiohttp.ClientSession() as http:
        with caplog.at_level(logging.WARNING, logger="alo_edge"):
            connection = await transport.open(
                Access("janus", janus.url, "token"), tracks, http, heard.listener()
            )
            assert isinstance(connection, JanusConnection)
            watching = asyncio.ensure_future(connection.wait_lost())  # enters the room
            try:
                await until(lambda: len(heard.voices) == CAP, 30, f"{CAP} voices")
                await asyncio.sleep(0.3)  # room for a wrong seventeenth subscription
                subscribed = janus.requests("message", "join")[1:]  # after the publisher's
                assert len(subscribed) == CAP
                assert len(heard.participants) == 1 + CAP  # the device first, then 16 others
                crowd = [r for r in caplog.records if "alo.max_participants" in r.getMessage()]
                assert len(crowd) == 1, [r.getMessage() for r in crowd]  # logged once

                janus.hang()  # Janus stops answering: a SIGSTOPped process
                asked = len(janus.received)
                started = time.monotonic()
                await connection.close()
                took = time.monotonic() - started
            finally:
                watching.cancel()
                await asyncio.gather(watching, return_exceptions=True)
    microphone.stop()

    print(f"leaving a hung Janus with {CAP} voices took {took:.2f} s")
    assert took <= CLOSE_DEADLINE + 0.5, f"leaving a hung Janus took {took:.2f} s"
    goodbyes = [(at, r) for at, r in janus.received[asked:]]
    detaches = [at for at, r in goodbyes if r["janus"] == "detach"]
    leaves = [at for at, r in goodbyes if r.get("body", {}).get("request") == "leave"]
    assert len(detaches) == CAP, [r for _, r in goodbyes]
    assert len(leaves) == 1, [r for _, r in goodbyes]
    # All at once: sixteen unanswered detaches cost one wait, not sixteen.
    assert max([*detaches, *leaves]) - started <= 0.5
    assert len(heard.voices) == CAP
    assert all(track is None for track in heard.voices.values())
    assert heard.participants == []
