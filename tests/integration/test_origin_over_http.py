"""The origin policy and the WHIP cleanup against real aiohttp servers on loopback.

A scripted WHIP server on 127.0.0.1 and the hostile tier's recorder on 127.0.0.2 (the
second host). Each test drives the device's own HTTP session (``device_session``, the
one place the policy is enforced) or the real WhipTransport over it.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field

import pytest
from aiohttp import web

from alo_edge.errors import SignallingError, TransportError
from alo_edge.transport.base import Access, PublishedTracks
from alo_edge.transport.http import bearer
from alo_edge.transport.ice import pin_host_addresses
from alo_edge.transport.origin import OriginPolicy, OriginRefused, device_session
from alo_edge.transport.room import RoomListener
from alo_edge.transport.whip import WhipTransport
from tests.hostile.servers import CredentialRecorder

pytestmark = pytest.mark.integration

JUNK_SDP = "v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=-\r\n"
Route = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass
class Scripted:
    """A WHIP-ish server on 127.0.0.1: ``routes[(method, path)]`` answers; all is recorded."""

    routes: dict[tuple[str, str], Route] = field(default_factory=dict)
    seen: list[tuple[str, str, str | None]] = field(default_factory=list)
    base: str = ""

    async def handle(self, request: web.Request) -> web.StreamResponse:
        await request.read()
        self.seen.append((request.method, request.path, request.headers.get("Authorization")))
        route = self.routes.get((request.method, request.path))
        return await route(request) if route else web.Response(status=404)


@pytest.fixture
async def server() -> AsyncIterator[Scripted]:
    scripted = Scripted()
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", scripted.handle)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    scripted.base = f"http://127.0.0.1:{runner.addresses[0][1]}"
    try:
        yield scripted
    finally:
        await runner.cleanup()


@pytest.fixture
def recorder() -> Iterator[CredentialRecorder]:
    made = CredentialRecorder()
    made.start()
    try:
        yield made
    finally:
        made.close()


def answer(status: int, body: str = "", **headers: str) -> Route:
    async def route(request: web.Request) -> web.StreamResponse:
        return web.Response(status=status, text=body, headers=headers)

    return route


SDP_201 = {"Content-Type": "application/sdp"}


async def publish(
    transport: WhipTransport, url: str, token: str, policy: OriginPolicy
) -> Exception:
    """One WHIP attempt (a real aiortc offer, audio only); the error it ended in."""
    pin_host_addresses(["127.0.0.1"])
    policy.issue(token, url, what="test")
    async with device_session(policy) as http:
        try:
            connection = await transport.open(
                Access("whip", url, token),
                PublishedTracks(offer_video=False, offer_audio=True),
                http,
                RoomListener(),
            )
        except Exception as error:
            return error
        await connection.close()
    raise AssertionError("the attempt connected")


async def test_a_bearer_is_never_sent_to_another_origin_even_when_asked_to(
    server: Scripted, recorder: CredentialRecorder
) -> None:
    policy = OriginPolicy()
    policy.issue("t0ken", server.base, what="test")
    async with device_session(policy) as http:
        with pytest.raises(OriginRefused, match=r"the bearer was issued for http://127\.0\.0\.1"):
            await http.delete(f"{recorder.base}/whip/x", headers=bearer("t0ken"))
        server.routes[("DELETE", "/whip/x")] = answer(200)
        async with http.delete(f"{server.base}/whip/x", headers=bearer("t0ken")) as response:
            assert response.status == 200
    assert recorder.received() == []


async def test_a_redirect_on_the_same_origin_is_followed_with_the_bearer(
    server: Scripted,
) -> None:
    server.routes[("POST", "/whip/a")] = answer(307, Location="/whip/b/")
    server.routes[("POST", "/whip/b/")] = answer(201, JUNK_SDP, Location="r/1", **SDP_201)
    server.routes[("DELETE", "/whip/b/r/1")] = answer(200)
    error = await publish(WhipTransport(), f"{server.base}/whip/a", "t0ken", OriginPolicy())
    assert isinstance(error, SignallingError)
    assert "malformed SDP answer" in str(error)
    # The Location is relative to where the redirect led; the DELETE goes there, with the bearer.
    assert server.seen == [
        ("POST", "/whip/a", "Bearer t0ken"),
        ("POST", "/whip/b/", "Bearer t0ken"),
        ("DELETE", "/whip/b/r/1", "Bearer t0ken"),
    ]


async def test_a_redirect_to_another_origin_is_not_followed(
    server: Scripted, recorder: CredentialRecorder
) -> None:
    server.routes[("POST", "/whip/a")] = answer(307, Location=f"{recorder.base}/whip/a")
    error = await publish(WhipTransport(), f"{server.base}/whip/a", "t0ken", OriginPolicy())
    assert isinstance(error, SignallingError)
    assert "another origin" in str(error)
    await asyncio.sleep(0.2)  # anything sent would have arrived by now
    assert recorder.received() == []


async def test_an_undelivered_delete_goes_before_the_next_post_with_the_current_token(
    server: Scripted,
) -> None:
    transport = WhipTransport()
    url = f"{server.base}/whip/front"
    # The first session's DELETE meets a server that cannot act on it now: kept.
    server.routes[("POST", "/whip/front")] = answer(201, JUNK_SDP, Location="/r/1", **SDP_201)
    server.routes[("DELETE", "/r/1")] = answer(503, "busy")
    await publish(transport, url, "token-1", OriginPolicy())
    assert transport.pending_deletes.urls == [f"{server.base}/r/1"]

    # The next attempt (the token renewed meanwhile): DELETE first, then the POST.
    server.seen.clear()
    server.routes[("DELETE", "/r/1")] = answer(200)
    server.routes[("POST", "/whip/front")] = answer(503, "Janus unavailable")
    error = await publish(transport, url, "token-2", OriginPolicy())
    assert isinstance(error, TransportError)
    assert str(error) == "WHIP endpoint answered HTTP 503, expected 201: Janus unavailable"
    assert server.seen == [
        ("DELETE", "/r/1", "Bearer token-2"),
        ("POST", "/whip/front", "Bearer token-2"),
    ]
    assert transport.pending_deletes.urls == []


async def test_a_delete_the_server_never_got_is_kept_and_one_it_answered_is_not(
    server: Scripted,
) -> None:
    transport = WhipTransport()
    gone = "http://127.0.0.1:9/r/unreachable"  # nothing listens on port 9 (discard)
    transport.pending_deletes.add(gone, "token-1")
    transport.pending_deletes.add(f"{server.base}/r/unknown", "token-1")
    server.routes[("POST", "/whip/front")] = answer(503)
    policy = OriginPolicy()
    policy.issue("token-1", gone, what="test")
    await publish(transport, f"{server.base}/whip/front", "token-1", policy)
    # 404: the server never had it (or freed it): forgotten. Unreachable: kept.
    assert transport.pending_deletes.urls == [gone]
    assert ("DELETE", "/r/unknown", "Bearer token-1") in server.seen
