"""What the device reads from a bearer without verifying it, and never sending a dead one."""

from __future__ import annotations

import time

import aiohttp
import jwt
from aiohttp import web
from aiohttp.test_utils import TestServer

from alo_edge.bearer import expired
from alo_edge.transport.whip_cleanup import DeleteOutcome, delete_resource

KEY = "unit-test-hs256-key-0123456789abcdef"
NOW = 1_700_000_000.0


def token(exp: float) -> str:
    return jwt.encode({"sub": "door-1", "exp": int(exp)}, KEY, algorithm="HS256")


def test_a_jwt_past_its_exp_is_expired_and_an_opaque_bearer_is_not_known_to_be() -> None:
    assert expired(token(NOW - 1), NOW)
    assert expired(token(NOW), NOW)
    assert not expired(token(NOW + 60), NOW)
    assert not expired("opaque-device-token", NOW)
    assert not expired("aaa.!!!.bbb", NOW)  # JWT-shaped but unreadable: not known


async def test_a_whip_delete_is_never_sent_with_an_expired_token() -> None:
    deletes: list[str] = []

    async def delete(request: web.Request) -> web.Response:
        deletes.append(request.headers.get("Authorization", ""))
        return web.Response(status=200)

    app = web.Application()
    app.router.add_delete("/whip/front/1", delete)
    async with TestServer(app, host="127.0.0.1") as server, aiohttp.ClientSession() as http:
        url = str(server.make_url("/whip/front/1"))
        dead = await delete_resource(http, url, token(time.time() - 10))
        alive = await delete_resource(http, url, token(time.time() + 600))

    assert dead.outcome is DeleteOutcome.REFUSED  # not sent, not kept for a retry
    assert alive.outcome is DeleteOutcome.DONE
    assert len(deletes) == 1  # only the live token reached the server
