"""Hostile input, generated: whatever a server answers, the device ends in a clear error.

Property-based (hypothesis): malformed SDP answers, WHIP responses with any status,
missing or odd headers, huge bodies and wrong content types, and any access-endpoint
JSON each end in a TransportError (SignallingError is one) or an AuthError with a
one-line message, within a bounded time, never another exception and never a hang.
The servers are real aiohttp endpoints on 127.0.0.1. Example counts stay modest so the
tier stays fast. Janus messages join these once the Janus transport exists.
"""

from __future__ import annotations

import asyncio
import json
import string
from collections.abc import Callable
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from alo_edge.errors import AuthError, ConflictError, TransportError
from alo_edge.transport.access import parse_access_answer
from alo_edge.transport.base import Access, PublishedTracks
from alo_edge.transport.http import (
    MAX_JSON_BYTES,
    MAX_RETRY_AFTER,
    MAX_SDP_BYTES,
    auth_error_for,
    read_limited,
    retry_after_seconds,
)
from alo_edge.transport.ice import pin_host_addresses
from alo_edge.transport.room import RoomListener
from alo_edge.transport.whip import WhipTransport

pytestmark = pytest.mark.integration

#: No answer, however bad, may keep an attempt busy longer than this.
BOUND = 15.0
EXAMPLES = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])

Answer = Callable[[], web.StreamResponse]


async def _serve_once(answer: Answer, client: Callable[[str], Any]) -> Any:
    """Run ``client(url)`` against a loopback server whose every answer is ``answer()``."""

    async def handle(request: web.Request) -> web.StreamResponse:
        await request.read()
        return answer()

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handle)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
    await runner.setup()
    try:
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        host, port = runner.addresses[0][:2]
        return await asyncio.wait_for(client(f"http://{host}:{port}/whip/ch"), BOUND)
    finally:
        await runner.cleanup()


def assert_clear(error: BaseException) -> None:
    """A retryable alo-edge error with a one-line message."""
    assert isinstance(error, TransportError | AuthError), repr(error)
    message = str(error)
    assert message.strip(), repr(error)
    assert "\n" not in message, message
    assert len(message) < 1000, message


def publish_against(answer: Answer) -> BaseException | None:
    """One WHIP attempt (a real offer, audio only) against ``answer``; the error it ends in."""
    pin_host_addresses(["127.0.0.1"])

    async def client(url: str) -> BaseException | None:
        transport = WhipTransport(connect_timeout=1.0)
        async with aiohttp.ClientSession() as http:
            try:
                connection = await transport.open(
                    Access("whip", url, "hostile-test-token"),
                    PublishedTracks(offer_video=False, offer_audio=True),
                    http,
                    RoomListener(),
                )
            except Exception as error:
                return error
            await connection.close()
            return None

    result: BaseException | None = asyncio.run(_serve_once(answer, client))
    return result


# --- WHIP answers ------------------------------------------------------------------------

SDP_LINE = st.one_of(
    st.sampled_from(
        [
            "v=0",
            "o=- 1 1 IN IP4 127.0.0.1",
            "s=-",
            "t=0 0",
            "m=audio 9 UDP/TLS/RTP/SAVPF 111",
            "m=video 0 RTP/AVP 96",
            "c=IN IP4 127.0.0.1",
            "a=setup:active",
            "a=ice-ufrag:abcd",
            "a=ice-pwd:0123456789012345678901",
            "a=fingerprint:sha-256 00:11",
            "a=rtpmap:111 opus/48000/2",
            "a=mid:0",
            "a=group:BUNDLE 0",
            "a=candidate:1 1 udp 1 127.0.0.1 9 typ host",
        ]
    ),
    st.text(string.printable, max_size=60).map(lambda t: t.replace("\r", "").replace("\n", "")),
)


@EXAMPLES
@given(st.lists(SDP_LINE, max_size=20))
def test_a_malformed_sdp_answer_is_a_signalling_error(lines: list[str]) -> None:
    body = "\r\n".join(["v=0", *lines]) + "\r\n"
    error = publish_against(
        lambda: web.Response(
            status=201, text=body, content_type="application/sdp", headers={"Location": "/r/1"}
        )
    )
    assert error is not None, "a junk answer connected"
    assert_clear(error)


@EXAMPLES
@given(
    status=st.integers(min_value=200, max_value=599).filter(lambda s: s not in (201, 204, 304)),
    body=st.binary(max_size=2048),
    retry_after=st.one_of(st.none(), st.text(string.printable, max_size=30)),
)
def test_any_status_but_201_is_a_clear_error(
    status: int, body: bytes, retry_after: str | None
) -> None:
    headers = {}
    if retry_after is not None and retry_after.isprintable():
        headers["Retry-After"] = retry_after
    error = publish_against(lambda: web.Response(status=status, body=body, headers=headers))
    assert error is not None
    assert_clear(error)
    assert f"HTTP {status}" in str(error)
    if status == 409 or isinstance(error, ConflictError):
        # 409, or a 403 whose reason says "in use": an earlier session, not the token.
        assert isinstance(error, ConflictError)
        assert status in (403, 409)
    elif status in (401, 403):
        assert isinstance(error, AuthError)


@EXAMPLES
@given(
    content_type=st.sampled_from(
        ["application/json", "text/html", "text/plain", "application/octet-stream", "sdp"]
    ),
    location=st.one_of(st.none(), st.just("/r/1")),
    body=st.text(max_size=500),
)
def test_a_201_without_location_or_sdp_is_a_clear_error(
    content_type: str, location: str | None, body: str
) -> None:
    headers = {"Location": location} if location else {}
    error = publish_against(
        lambda: web.Response(status=201, text=body, content_type=content_type, headers=headers)
    )
    assert error is not None
    assert_clear(error)
    assert ("Location" in str(error)) if location is None else ("Content-Type" in str(error))


def test_a_huge_answer_is_refused_after_reading_a_bounded_amount() -> None:
    sent: list[int] = []

    def huge() -> web.StreamResponse:
        response = web.Response(
            status=201, body=b"v=0\r\n" + b"a" * (4 * MAX_SDP_BYTES), headers={"Location": "/r"}
        )
        response.content_type = "application/sdp"
        sent.append(len(response.body))  # type: ignore[arg-type]
        return response

    error = publish_against(huge)
    assert error is not None
    assert_clear(error)
    assert f"larger than {MAX_SDP_BYTES} bytes" in str(error)


async def test_read_limited_stops_reading_an_endless_body() -> None:
    """A server streaming forever cannot make the device read more than the limit + 1."""

    async def endless(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(status=200)
        await response.prepare(request)
        chunk = b"x" * 65536
        for _ in range(10_000):  # bounded: 640 MB, far past any limit
            await response.write(chunk)
        return response

    app = web.Application()
    app.router.add_get("/", endless)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
    await runner.setup()
    try:
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        host, port = runner.addresses[0][:2]
        async with aiohttp.ClientSession() as http, http.get(f"http://{host}:{port}/") as response:
            with pytest.raises(TransportError, match=f"larger than {MAX_JSON_BYTES} bytes"):
                await asyncio.wait_for(read_limited(response, MAX_JSON_BYTES, what="x"), BOUND)
    finally:
        await runner.cleanup()


# --- the access endpoint's JSON ----------------------------------------------------------

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner),
    max_leaves=15,
)
ACCESS_LIKE = st.fixed_dictionaries(
    {},
    optional={
        "transport": st.one_of(st.just("whip"), JSON),
        "url": st.one_of(st.just("http://127.0.0.1/whip/x"), JSON),
        "token": JSON,
        "iceServers": st.one_of(
            st.lists(st.fixed_dictionaries({}, optional={"urls": JSON, "username": JSON})),
            JSON,
        ),
    },
)


@settings(max_examples=300, deadline=None)
@given(st.one_of(JSON, ACCESS_LIKE).map(json.dumps).map(str.encode) | st.binary(max_size=200))
def test_any_access_answer_is_an_access_or_a_signalling_error(payload: bytes) -> None:
    try:
        access = parse_access_answer(payload, default_token="t")
    except TransportError as error:
        assert_clear(error)
        return
    assert access.transport == "whip"
    assert access.url.startswith(("http://", "https://"))
    assert isinstance(access.token, str)
    assert access.token


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=60))
def test_any_retry_after_is_ignored_or_a_bounded_delay(value: str) -> None:
    seconds = retry_after_seconds({"Retry-After": value})
    assert seconds is None or 0.0 <= seconds <= MAX_RETRY_AFTER


@settings(max_examples=200, deadline=None)
@given(st.sampled_from([401, 403]), st.binary(max_size=4096))
def test_any_auth_refusal_body_gives_a_short_auth_error(status: int, body: bytes) -> None:
    error = auth_error_for(status, body, what="WHIP endpoint")
    assert isinstance(error, AuthError)
    assert f"HTTP {status}" in str(error)
    assert len(str(error)) < 300
