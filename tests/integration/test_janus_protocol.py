"""The Janus client's protocol hygiene against a scripted Janus WebSocket on 127.0.0.1.

The real server is exercised in ``tests/janus`` (root); here a fake one says what a
real one rarely does on cue: garbage, silence, errors, oversized frames, a session
timeout. The client must turn each into a clear error or a lost session, and its
reader task must outlive every malformed message.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from alo_edge.errors import AuthError, TransportError
from alo_edge.transport.janus import MAX_MESSAGE_BYTES, JanusError, JanusSession

pytestmark = pytest.mark.integration

SESSION_ID = 42
HANDLE_ID = 7
Reply = Callable[[dict[str, Any]], list[dict[str, Any]] | None]


class FakeJanus:
    """Answers info/create/attach/keepalive/destroy like Janus; ``reply`` overrides per request."""

    def __init__(self, session_timeout: int = 60) -> None:
        self.session_timeout = session_timeout
        self.received: list[dict[str, Any]] = []
        self.reply: Reply = lambda request: None
        self.ws: web.WebSocketResponse | None = None
        self.url = ""

    def default(self, request: dict[str, Any]) -> list[dict[str, Any]]:
        kind, transaction = request["janus"], request["transaction"]
        if kind == "info":
            return [{"janus": "server_info", "transaction": transaction,
                     "session-timeout": self.session_timeout}]  # fmt: skip
        if kind == "create":
            return [{"janus": "success", "transaction": transaction, "data": {"id": SESSION_ID}}]
        if kind == "attach":
            return [{"janus": "success", "transaction": transaction, "data": {"id": HANDLE_ID}}]
        if kind == "keepalive":
            return [{"janus": "ack", "transaction": transaction}]
        return [{"janus": "success", "transaction": transaction}]

    async def handle(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(protocols=("janus-protocol",))
        await ws.prepare(request)
        self.ws = ws
        async for message in ws:
            body = json.loads(message.data)
            self.received.append(body)
            replies = self.reply(body)
            for reply in self.default(body) if replies is None else replies:
                await ws.send_str(json.dumps(reply))
        return ws

    async def push(self, data: str | bytes) -> None:
        assert self.ws is not None
        if isinstance(data, bytes):
            await self.ws.send_bytes(data)
        else:
            await self.ws.send_str(data)

    def kinds(self) -> list[str]:
        return [r["janus"] for r in self.received]


@pytest.fixture
async def janus() -> AsyncIterator[FakeJanus]:
    fake = FakeJanus()
    app = web.Application()
    app.router.add_get("/", fake.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    fake.url = f"ws://127.0.0.1:{port}/"
    try:
        yield fake
    finally:
        await runner.cleanup()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def test_a_session_is_created_with_the_token_and_destroyed_on_close(
    janus: FakeJanus, http: aiohttp.ClientSession
) -> None:
    session = await JanusSession.open(janus.url, "bearer-1", http)
    assert session.session_id == SESSION_ID
    assert session.session_timeout == 60
    await session.close()
    assert janus.kinds() == ["info", "create", "destroy"]
    assert all(r["token"] == "bearer-1" for r in janus.received)
    assert janus.received[-1]["session_id"] == SESSION_ID


async def test_malformed_messages_are_dropped_and_the_reader_carries_on(
    janus: FakeJanus, http: aiohttp.ClientSession
) -> None:
    session = await JanusSession.open(janus.url, "t", http)
    try:
        for garbage in (
            "not json {",
            "[1, 2, 3]",
            '{"no": "janus field"}',
            '{"janus": 5}',
            b"\x00\x01binary",
            '{"janus": "event", "sender": "7", "plugindata": []}',
            '{"janus": "success", "transaction": "nobody-asked"}',
            '{"janus": "event", "sender": true}',
        ):
            await janus.push(garbage)
        handle = await session.attach("janus.plugin.videoroom", lambda message: None)
        assert handle.id == HANDLE_ID
        assert not session.lost
        assert session.malformed == 5  # the first five; the rest are well-formed but not ours
    finally:
        await session.close()


async def test_a_message_nested_too_deeply_is_dropped_and_the_reader_carries_on(
    janus: FakeJanus, http: aiohttp.ClientSession
) -> None:
    # json.loads raises RecursionError (not ValueError) on deep nesting: on 73a265e it
    # killed the reader task, and every later transaction timed out.
    session = await JanusSession.open(janus.url, "t", http)
    try:
        await janus.push("[" * 100_000 + "]" * 100_000)
        handle = await session.attach("janus.plugin.videoroom", lambda message: None)
        assert handle.id == HANDLE_ID
        assert not session.lost
        assert session.malformed == 1
    finally:
        await session.close()


async def test_an_unanswered_transaction_times_out_naming_it(
    janus: FakeJanus, http: aiohttp.ClientSession
) -> None:
    session = await JanusSession.open(janus.url, "t", http, transaction_timeout=0.3)
    janus.reply = lambda request: [] if request["janus"] == "attach" else None
    started = time.monotonic()
    try:
        with pytest.raises(TransportError, match=r"did not answer attach .* within 0.3 s"):
            await session.attach("janus.plugin.videoroom", lambda message: None)
        assert time.monotonic() - started < 1.0
        assert not session.lost  # one silent answer is not a dead session
    finally:
        await session.close()


@pytest.mark.parametrize(
    ("error", "expected", "text"),
    [
        ({"code": 458, "reason": "No such session 42"}, JanusError, "error 458: No such session"),
        ({"code": 403, "reason": "Unauthorized request"}, AuthError, "error 403: Unauthorized"),
        ({"code": "x", "reason": None}, JanusError, "error None: no reason given"),
    ],
)
async def test_an_error_reply_carries_janus_code_and_text(
    janus: FakeJanus,
    http: aiohttp.ClientSession,
    error: dict[str, Any],
    expected: type[Exception],
    text: str,
) -> None:
    session = await JanusSession.open(janus.url, "t", http)
    janus.reply = lambda r: (
        [{"janus": "error", "transaction": r["transaction"], "error": error}]
        if r["janus"] == "attach"
        else None
    )
    try:
        with pytest.raises(expected, match=text) as caught:
            await session.attach("janus.plugin.videoroom", lambda message: None)
        if isinstance(caught.value, JanusError):
            code = error["code"] if isinstance(error["code"], int) else None
            assert caught.value.code == code
            assert caught.value.retryable
    finally:
        await session.close()


async def test_a_plugin_error_carries_the_videoroom_code_and_text(
    janus: FakeJanus, http: aiohttp.ClientSession
) -> None:
    session = await JanusSession.open(janus.url, "t", http)

    def reply(request: dict[str, Any]) -> list[dict[str, Any]] | None:
        if request["janus"] != "message":
            return None
        transaction = request["transaction"]
        data = {"videoroom": "event", "error_code": 426, "error": "No such room (999)"}
        return [
            {"janus": "ack", "transaction": transaction},
            {"janus": "event", "transaction": transaction, "sender": HANDLE_ID,
             "plugindata": {"plugin": "janus.plugin.videoroom", "data": data}},
        ]  # fmt: skip

    janus.reply = reply
    try:
        handle = await session.attach("janus.plugin.videoroom", lambda message: None)
        with pytest.raises(JanusError, match=r"join: error 426: No such room \(999\)") as caught:
            await handle.message({"request": "join"}, what="join")
        assert caught.value.code == 426
    finally:
        await session.close()


async def test_an_oversized_message_ends_the_session_not_the_process(
    janus: FakeJanus, http: aiohttp.ClientSession
) -> None:
    session = await JanusSession.open(janus.url, "t", http)
    try:
        await janus.push('{"janus": "event", "x": "' + "a" * MAX_MESSAGE_BYTES + '"}')
        reason = await asyncio.wait_for(session.wait_lost(), 5)
        assert "WebSocket" in reason
        with pytest.raises(TransportError, match="lost"):
            await session.attach("janus.plugin.videoroom", lambda message: None)
    finally:
        await session.close()


async def test_keepalives_go_at_a_third_of_the_server_session_timeout(
    janus: FakeJanus, http: aiohttp.ClientSession
) -> None:
    janus.session_timeout = 3
    session = await JanusSession.open(janus.url, "t", http)
    try:
        await asyncio.sleep(2.4)
        assert janus.kinds().count("keepalive") == 2
        assert not session.lost
    finally:
        await session.close()


async def test_an_unacknowledged_keepalive_loses_the_session(
    janus: FakeJanus, http: aiohttp.ClientSession
) -> None:
    janus.session_timeout = 3
    janus.reply = lambda request: [] if request["janus"] == "keepalive" else None
    session = await JanusSession.open(janus.url, "t", http)
    try:
        reason = await asyncio.wait_for(session.wait_lost(), 5)
        assert reason.startswith("keep-alive failed: Janus did not answer keep-alive")
    finally:
        await session.close()


async def test_janus_expiring_the_session_or_closing_the_socket_loses_it(
    janus: FakeJanus, http: aiohttp.ClientSession
) -> None:
    session = await JanusSession.open(janus.url, "t", http)
    try:
        await janus.push(json.dumps({"janus": "timeout", "session_id": SESSION_ID}))
        assert "expired the session" in await asyncio.wait_for(session.wait_lost(), 5)
    finally:
        await session.close()
    again = await JanusSession.open(janus.url, "t", http)
    try:
        assert janus.ws is not None
        await janus.ws.close()
        assert await asyncio.wait_for(again.wait_lost(), 5) == "Janus closed the WebSocket"
    finally:
        await again.close()


async def test_a_server_without_the_janus_subprotocol_is_refused(
    http: aiohttp.ClientSession,
) -> None:
    async def plain(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        async for _ in ws:
            pass
        return ws

    app = web.Application()
    app.router.add_get("/", plain)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        url = f"ws://127.0.0.1:{runner.addresses[0][1]}/"
        with pytest.raises(TransportError, match="subprotocol"):
            await JanusSession.open(url, "t", http)
    finally:
        await runner.cleanup()
