"""ICE servers a WHIP endpoint names in its ``Link`` headers, as the device lives with them.

The device is built as ``alo-edge run`` builds it and publishes to a real aiohttp WHIP
endpoint on 127.0.0.1 whose answers the test scripts; the STUN server it names is a
real one (aioice's message codec answering binding requests), so the test sees every
request the device's ICE gatherer sends it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aioice import stun

from alo_edge.api import AloVideo
from alo_edge.app import build_video
from alo_edge.config import config_from_dict
from tests.helpers import STEP, EventLog, device_config, state_is

pytestmark = pytest.mark.integration

CHANNEL = "front-door"
GARBAGE_SDP = "v=0\r\ngarbage"


class StunServer(asyncio.DatagramProtocol):
    """Answers STUN binding requests (once released); remembers when each arrived."""

    def __init__(self) -> None:
        self.requests: list[float] = []
        self.released = asyncio.Event()
        self.released.set()
        self.arrived = asyncio.Event()
        self.transport: Any = None
        self.answering: set[asyncio.Future[None]] = set()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        try:
            message = stun.parse_message(data)
        except ValueError:
            return
        if message.message_method != stun.Method.BINDING:
            return
        self.requests.append(time.monotonic())
        self.arrived.set()
        self.answering.add(asyncio.ensure_future(self._answer(message, addr)))

    async def _answer(self, request: stun.Message, addr: tuple[str, int]) -> None:
        await self.released.wait()
        response = stun.Message(
            message_method=stun.Method.BINDING,
            message_class=stun.Class.RESPONSE,
            transaction_id=request.transaction_id,
        )
        response.attributes["XOR-MAPPED-ADDRESS"] = addr
        if self.transport is not None:  # not closed at the end of the test
            self.transport.sendto(bytes(response), addr)


class ScriptedWhip:
    """A WHIP endpoint that can be taken down and brought back on the same port."""

    def __init__(self) -> None:
        self.answer: Callable[[], web.Response] = lambda: web.Response(status=500)
        self.posts: list[float] = []
        self._runner: web.AppRunner | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/whip/{CHANNEL}"

    async def _post(self, request: web.Request) -> web.Response:
        await request.read()
        self.posts.append(time.monotonic())
        return self.answer()

    async def _delete(self, request: web.Request) -> web.Response:
        return web.Response()

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/whip/{channel}", self._post)
        app.router.add_delete("/whip/{channel}/{resource}", self._delete)
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", self.port, reuse_address=True)
        await site.start()
        self._runner = runner
        self.port = runner.addresses[0][1]

    async def stop(self) -> None:
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()

    async def wait_posts(self, count: int, within: float = STEP) -> None:
        deadline = time.monotonic() + within
        while len(self.posts) < count:
            assert time.monotonic() < deadline, f"{len(self.posts)} POSTs after {within:g} s"
            await asyncio.sleep(0.05)


def created_with_links(*links: str) -> Callable[[], web.Response]:
    """A 201 whose SDP is unusable (the attempt fails after it) but whose Links count."""
    headers = {"Location": f"/whip/{CHANNEL}/r1", "Link": ", ".join(links)}
    return lambda: web.Response(
        status=201, text=GARBAGE_SDP, content_type="application/sdp", headers=headers
    )


@pytest.fixture
async def whip() -> AsyncIterator[ScriptedWhip]:
    server = ScriptedWhip()
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


@pytest.fixture
async def stun_server() -> AsyncIterator[tuple[StunServer, int]]:
    loop = asyncio.get_running_loop()
    transport, protocol = await loop.create_datagram_endpoint(
        StunServer, local_addr=("127.0.0.1", 0)
    )
    try:
        yield protocol, transport.get_extra_info("sockname")[1]
    finally:
        transport.close()
        for answer in protocol.answering:
            answer.cancel()


StartDevice = Callable[[], Awaitable[tuple[AloVideo, EventLog]]]


@pytest.fixture
async def device(whip: ScriptedWhip, tmp_path: Path) -> AsyncIterator[StartDevice]:
    videos: list[AloVideo] = []

    async def start() -> tuple[AloVideo, EventLog]:
        token_file = tmp_path / "token"
        token_file.write_text("opaque-test-token\n", encoding="utf-8")
        token_file.chmod(0o600)
        document = device_config(
            user_id="door-1",
            channel=CHANNEL,
            token_file=token_file,
            url=whip.url,
            reconnect={"initial_delay": 0.5, "max_delay": 1},
        )
        video = build_video(config_from_dict(document))
        videos.append(video)
        log = EventLog()
        log.attach(video)
        await video.connect(CHANNEL)
        return video, log

    try:
        yield start
    finally:
        for video in videos:
            await asyncio.wait_for(video.disconnect(), STEP)
            for source in video.media_sources:
                source.stop()


@pytest.mark.parametrize(
    "url",
    ["stun.example.net:3478", "stun:127.0.0.1:3478?transport=udp"],
    ids=["no-scheme", "stun-with-transport"],
)
async def test_a_link_server_aiortc_cannot_use_costs_a_warning_not_the_device(
    whip: ScriptedWhip, device: StartDevice, url: str, caplog: pytest.LogCaptureFixture
) -> None:
    # 73a265e: without a scheme, ConfigError ended the keep-alive loop (exit 78, never
    # restarted); with "?transport=" on stun:, every later attempt failed before its POST.
    whip.answer = created_with_links(f'<{url}>; rel="ice-server"')
    with caplog.at_level(logging.WARNING):
        video, log = await device()
        await whip.wait_posts(3)

    assert video.supervisor_task is not None
    assert not video.supervisor_task.done()  # still retrying
    assert any(repr(url) in r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING)
    errors = [e["detail"]["message"] for e in log.events if state_is("ERROR")(e)]
    assert errors
    assert all("malformed SDP answer" in message for message in errors), errors


async def test_an_attempt_that_cannot_reach_the_server_forgets_its_link_servers(
    whip: ScriptedWhip, device: StartDevice, stun_server: tuple[StunServer, int]
) -> None:
    # The endpoint names a STUN server; then it is unreachable for one attempt. What a
    # server said no longer counts once the device cannot reach it: the next attempt
    # gathers without that STUN server (73a265e kept asking it forever).
    stun_protocol, stun_port = stun_server
    whip.answer = created_with_links(f'<stun:127.0.0.1:{stun_port}>; rel="ice-server"')
    _, log = await device()
    await whip.wait_posts(1)
    # Attempt 2 gathers with the named STUN server: hold its answer, take the endpoint down.
    stun_protocol.released.clear()
    await asyncio.wait_for(stun_protocol.arrived.wait(), STEP)
    await whip.stop()
    stun_protocol.released.set()
    refused = await log.wait_for(
        lambda e: state_is("ERROR")(e) and "malformed" not in e["detail"]["message"],
        what="attempt 2 failing before the server",
    )
    asked_before = len(stun_protocol.requests)
    whip.answer = lambda: web.Response(status=503, headers={"Retry-After": "1"})
    await whip.start()
    await whip.wait_posts(2)

    assert "WHIP endpoint" in refused["detail"]["message"]
    assert len(stun_protocol.requests) == asked_before
