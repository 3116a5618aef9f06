"""Keyframes on demand: a receiver that sends a PLI gets a decodable picture within 300 ms.

The receiver is written here: a WHIP endpoint whose aiortc peer records the RTP it
receives (reassembling access units as any depacketiser does), so the test can play
a subscriber that lost the picture: it drops its decoder, sends an RTCP PLI, and
times how long until a fresh decoder shows a picture. The file's own IDR interval
is 4 s, so only an answered PLI can make that quick.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import av
import pytest
from aiohttp import web
from aiortc import RTCPeerConnection, RTCSessionDescription
from aiortc.codecs.h264 import h264_depayload

from alo_edge.app import build_video
from alo_edge.config import config_from_dict
from alo_edge.media.passthrough import is_idr
from alo_edge.transport.ice import rtc_configuration
from tests.integration.media_lab import EventLog, stop_device
from tests.media_support import make_h264

pytestmark = pytest.mark.integration

GOP_SECONDS = 4


class RecordingWhipEndpoint:
    """A one-session WHIP endpoint on 127.0.0.1 whose receiver keeps every access unit."""

    def __init__(self) -> None:
        self.pc: RTCPeerConnection | None = None
        #: ``(arrival monotonic, Annex-B access unit)`` in arrival order.
        self.units: list[tuple[float, bytes]] = []
        self.unit_arrived = asyncio.Event()
        self.video_ssrc: int | None = None
        self._partial: list[bytes] = []
        self._drain: asyncio.Task[None] | None = None
        self._runner: web.AppRunner | None = None
        self.url = ""

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/whip", self._post)
        app.router.add_delete("/whip/session", self._delete)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        host, port = self._runner.addresses[0][:2]
        self.url = f"http://{host}:{port}/whip"

    async def stop(self) -> None:
        if self.pc is not None:
            await self.pc.close()
        if self._drain is not None:
            self._drain.cancel()
            await asyncio.gather(self._drain, return_exceptions=True)
        if self._runner is not None:
            await self._runner.cleanup()

    async def _post(self, request: web.Request) -> web.Response:
        pc = self.pc = RTCPeerConnection(configuration=rtc_configuration([]))
        pc.on("track", self._on_track)
        await pc.setRemoteDescription(RTCSessionDescription(await request.text(), "offer"))
        for receiver in pc.getReceivers():
            if receiver.track.kind == "video":
                self._observe(receiver)
        await pc.setLocalDescription(await pc.createAnswer())
        return web.Response(
            status=201,
            text=pc.localDescription.sdp,
            content_type="application/sdp",
            headers={"Location": "/whip/session"},
        )

    async def _delete(self, request: web.Request) -> web.Response:
        return web.Response(status=200)

    def _on_track(self, track: Any) -> None:
        async def drain() -> None:
            # aiortc decodes for itself too; reading keeps its queue from growing.
            while True:
                await track.recv()

        self._drain = asyncio.create_task(drain())

    def _observe(self, receiver: Any) -> None:
        handle = receiver._handle_rtp_packet

        async def handle_rtp_packet(packet: Any, arrival_time_ms: int) -> None:
            await handle(packet, arrival_time_ms)
            if packet.payload_type == 0 or len(packet.payload) < 2:
                return
            self.video_ssrc = packet.ssrc
            self._partial.append(h264_depayload(packet.payload))
            if packet.marker:
                self.units.append((time.monotonic(), b"".join(self._partial)))
                self._partial = []
                self.unit_arrived.set()

        receiver._handle_rtp_packet = handle_rtp_packet

    async def send_pli(self) -> None:
        """What a subscriber that lost the picture sends: RTCP PLI for the video SSRC."""
        assert self.pc is not None
        assert self.video_ssrc is not None
        receiver = next(r for r in self.pc.getReceivers() if r.track.kind == "video")
        await receiver._send_rtcp_pli(self.video_ssrc)

    async def next_unit_after(self, index: int, timeout: float) -> tuple[float, bytes]:
        deadline = time.monotonic() + timeout
        while len(self.units) <= index:
            self.unit_arrived.clear()
            await asyncio.wait_for(self.unit_arrived.wait(), deadline - time.monotonic())
        return self.units[index]


@pytest.fixture
async def endpoint() -> AsyncIterator[RecordingWhipEndpoint]:
    server = RecordingWhipEndpoint()
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


async def test_a_pli_is_answered_with_a_decodable_picture_within_300_ms(
    tmp_path: Path, endpoint: RecordingWhipEndpoint
) -> None:
    clip = make_h264(
        tmp_path / "gop4.h264", width=320, height=180, frames=30 * 2 * GOP_SECONDS, gop=120
    )
    token = tmp_path / "token"
    token.write_text("any-token\n")
    config = config_from_dict(
        {
            "device": {"user_id": "door-1"},
            "alo": {"url": endpoint.url, "channel": "door", "token_file": str(token)},
            "network": {"host_addresses": ["127.0.0.1"]},
            "video": {"source": "file", "file": str(clip)},
            "audio": {"source": "none"},
        }
    )
    video = build_video(config)
    log = EventLog(video)
    await video.connect("door")
    try:
        await log.wait_for(lambda: "CONNECTED" in log.states)
        _, first = await endpoint.next_unit_after(0, timeout=5)
        assert is_idr(first), "a keyframe is forced when the connection comes up"

        # Well inside the 4 s GOP and past the rate limit of the connection-up keyframe.
        await asyncio.sleep(1.5)
        seen = len(endpoint.units)
        quiet_since = time.monotonic() - 1.0
        assert not any(is_idr(unit) for at, unit in endpoint.units if at > quiet_since)
        decoder = av.CodecContext.create("h264", "r")  # the subscriber's fresh decoder
        asked_at = time.monotonic()
        await endpoint.send_pli()

        pictures: list[Any] = []
        index = seen
        while not pictures:
            arrived, unit = await endpoint.next_unit_after(index, timeout=GOP_SECONDS)
            index += 1
            if is_idr(unit):  # a decoder can start only here; earlier units are useless
                pictures = decoder.decode(av.Packet(unit))
        waited = arrived - asked_at

        assert pictures
        assert pictures[0].width == 320
        assert waited < 0.3, f"keyframe came {waited * 1000:.0f} ms after the PLI"
    finally:
        await stop_device(video)
