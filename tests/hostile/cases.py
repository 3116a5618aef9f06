"""The hostile answers, one per connection attempt, in the order the device meets them.

Each :class:`Case` is what the access endpoint answers on one attempt (and, through
the URL it names, what the WHIP endpoint or Janus URL does), and the words the
device's ERROR must contain. Cases marked ``connects`` reach CONNECTED through a
proxy to a real lab (the test then ends that session from the lab). The second host
(127.0.0.2, :class:`~tests.hostile.servers.CredentialRecorder`) is named by several
answers; none of them may make the device contact it.

What 73a265e did with each is noted: every case marked "73a265e" fails there.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass

from aiohttp import web

from tests.hostile.servers import SECOND_HOST, Handler, HostileServer, json_answer, response

CHANNEL = "hostile"
USER = "door-9"
#: Secrets an access answer puts into a URL (userinfo and query): never shown anywhere.
URL_PASSWORD = "pa55-in-the-url"
URL_KEY = "hunter2-in-the-query"
JANUS_ROOM = 1234
JUNK_SDP = "v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=-\r\n"


@dataclass(frozen=True)
class Case:
    """One attempt's hostile answer and what the device must say about it."""

    name: str
    access: Handler
    #: A regular expression the ERROR message of this attempt must match.
    expect: str
    whip: Handler | None = None
    connects: bool = False


def _answer(document: dict[str, object] | Callable[[HostileServer], dict[str, object]]) -> Handler:
    async def handle(server: HostileServer, request: web.Request) -> web.StreamResponse:
        return json_answer(document(server) if callable(document) else document)

    return handle


def _whip(server: HostileServer, name: str) -> dict[str, object]:
    """An access answer sending the device to the hostile WHIP path ``name``."""
    return {"transport": "whip", "url": f"{server.base}/whip/{name}", "token": server.media_token}


def _raw(status: int, body: bytes | str, **headers: str) -> Handler:
    async def handle(server: HostileServer, request: web.Request) -> web.StreamResponse:
        await request.read()
        return response(status, body, **headers)

    return handle


async def _access_redirect_elsewhere(server: HostileServer, request: web.Request) -> web.Response:
    return response(307, Location=f"{server.recorder.base}/v1/access")


async def _token_echoed(server: HostileServer, request: web.Request) -> web.Response:
    # A server that quotes the device token back in its reason: the device must not log it.
    return json_answer({"error": f"token {server.user_token} is not valid here"}, status=401)


async def _whip_redirect_elsewhere(server: HostileServer, request: web.Request) -> web.Response:
    await request.read()
    return response(307, Location=f"{server.recorder.base}/whip/{CHANNEL}")


async def _location_elsewhere(server: HostileServer, request: web.Request) -> web.Response:
    await request.read()
    location = f"{server.recorder.base}/whip/{CHANNEL}/resource-1"
    return response(201, JUNK_SDP, Content_Type="application/sdp", Location=location)


async def _janus_redirect_elsewhere(server: HostileServer, request: web.Request) -> web.Response:
    # http:// on purpose: aiohttp follows that to the second host (it would refuse ws://).
    return response(307, Location=f"http://{SECOND_HOST}:{server.recorder.port}/janus")


async def _in_use(server: HostileServer, request: web.Request) -> web.Response:
    # simple-whip-server's answer while a publisher whose DELETE was lost is still in place.
    await request.read()
    return response(403, "Endpoint ID already in use", Content_Type="text/html; charset=utf-8")


async def _proxy_elsewhere(server: HostileServer, request: web.Request) -> web.Response:
    """The lab answers; its Location and its state-report Link point at the second host."""
    status, body, headers = await server.proxy(request, f"/whip/{CHANNEL}")
    if "Location" in headers:
        session = headers["Location"].rstrip("/").rsplit("/", 1)[-1]
        headers["Location"] = f"{server.recorder.base}/whip/{CHANNEL}/{session}"
    if "Link" in headers:
        headers["Link"] = re.sub(
            r"<[^>]*>", f"<{server.recorder.base}/api/channels/{CHANNEL}/events>", headers["Link"]
        )
    return response(status, body, **{k.replace("-", "_"): v for k, v in headers.items()})


async def _proxy(server: HostileServer, request: web.Request) -> web.Response:
    """The lab answers, as itself (its Location is relative: it stays on this origin)."""
    tail = request.match_info.get("tail", "")
    path = f"/whip/{CHANNEL}/{tail}" if tail else f"/whip/{CHANNEL}"
    status, body, headers = await server.proxy(request, path)
    headers.pop("Link", None)  # the lab names its own origin: refused, and noisy here
    return response(status, body, **{k.replace("-", "_"): v for k, v in headers.items()})


CASES: list[Case] = [
    # --- answers that are not what they claim to be ----------------------------------------
    Case("html", _raw(200, "<html><body>Welcome</body></html>", Content_Type="text/html"),
         r"access answer is not JSON"),
    Case("nested-json", _raw(200, "[" * 60_000, Content_Type="application/json"),
         r"nested too deeply"),  # 73a265e: RecursionError, "unexpected error" + traceback
    Case("huge", _raw(200, b"{" + b" " * (100 * 1024) + b"}", Content_Type="application/json"),
         r"larger than 65536 bytes"),
    Case("unknown-transport", _answer({"transport": "sip" * 100, "url": "sip:x"}),
         r"'transport' is 'sipsip.*\.\.\.; this device speaks"),
    # --- one answer ended the process on 73a265e (exit 78, never restarted) --------------
    Case("janus-without-room",
         _answer(lambda s: {"transport": "janus", "url": f"ws://127.0.0.1:{s.port}/janus/none",
                            "token": s.media_token}),
         r"names no 'room'"),
    # --- the bearer and other origins ---------------------------------------------------
    Case("access-redirect-elsewhere", _access_redirect_elsewhere,
         r"redirected to http://127\.0\.0\.2:\d+/v1/access: another origin"),  # 73a265e: followed
    Case("url-elsewhere-without-token",
         _answer(lambda s: {"transport": "whip", "url": f"{s.recorder.base}/whip/{CHANNEL}"}),
         r"names no 'token': the device token goes only to http://127\.0\.0\.1"),
    Case("whip-redirect-elsewhere", _answer(lambda s: _whip(s, "whip-redirect-elsewhere")),
         r"redirected to http://127\.0\.0\.2:\d+/whip/hostile: another origin",
         whip=_whip_redirect_elsewhere),  # 73a265e: POST followed, DELETE with the token
    Case("location-elsewhere", _answer(lambda s: _whip(s, "location-elsewhere")),
         r"malformed SDP answer", whip=_location_elsewhere),  # 73a265e: DELETE with the token
    Case("location-not-a-url", _answer(lambda s: _whip(s, "location-not-a-url")),
         r"Location 'http://\[bad' is not a URL",
         whip=_raw(201, JUNK_SDP, Content_Type="application/sdp", Location="http://[bad")),
    Case("janus-redirect-elsewhere",
         _answer(lambda s: {"transport": "janus", "url": f"ws://127.0.0.1:{s.port}/janus/janus-redirect-elsewhere",
                            "token": s.media_token, "room": JANUS_ROOM}),
         r"redirected to http://127\.0\.0\.2:\d+/janus: another origin",
         whip=_janus_redirect_elsewhere),  # 73a265e: the WebSocket went to the second host
    # --- a server's reason, and what it must not carry -----------------------------------
    Case("in-use", _answer(lambda s: _whip(s, "in-use")),
         r"still holds an earlier session of this device \(HTTP 403: Endpoint ID already in use\)",
         whip=_in_use),  # 73a265e: "denied access (HTTP 403)", an auth failure, no reason
    Case("token-echoed", _token_echoed,
         r"refused the token \(HTTP 401\): token \*\*\* is not valid here"),  # 73a265e: the JWT
    # --- a real session whose Location and state reports point elsewhere -----------------
    Case("session-elsewhere", _answer(lambda s: _whip(s, "session-elsewhere")), r".",
         whip=_proxy_elsewhere, connects=True),  # 73a265e: reports and DELETE with the token
    # --- secrets in a URL: masked in events, logs, STATUS= and /status --------------------
    Case("url-password",
         _answer(lambda s: {"transport": "whip", "token": s.media_token,
                            "url": f"http://door:{URL_PASSWORD}@127.0.0.1:{s.port}/whip/x"}),
         r"'http://\*\*\*@127\.0\.0\.1:\d+/whip/x' carries a user name or password"),
    Case("url-query-secret",
         _answer(lambda s: {"transport": "whip", "token": s.media_token,
                            "url": f"http://127.0.0.1:{s.closed_port}/whip/{CHANNEL}"
                                   f"?key={URL_KEY}"}),
         r"WHIP endpoint http://127\.0\.0\.1:\d+/whip/hostile\?key=\*\*\* unreachable"),
    # --- and then a good answer: the device connects, in the same process -----------------
    Case("good", _answer(lambda s: _whip(s, "good")), r".", whip=_proxy, connects=True),
]  # fmt: skip


def install(server: HostileServer, cases: list[Case]) -> None:
    """Make ``server`` answer the n-th access request with ``cases[n]`` (the last repeats).

    Each case's WHIP (or Janus) handler answers under its name; the lab's own resource
    paths (``/whip/<channel>/<session>``, where a proxied session's DELETE goes) are
    proxied to the lab.
    """
    server.access_answers = [case.access for case in cases]
    server.whip = {case.name: case.whip for case in cases if case.whip is not None}
    server.whip[CHANNEL] = _proxy


def selected(names: str | None) -> list[Case]:
    """All cases, or those named (comma-separated) plus the final good one."""
    if not names:
        return list(CASES)
    wanted = set(names.split(","))
    unknown = wanted - {c.name for c in CASES}
    assert not unknown, f"no such hostile case: {sorted(unknown)}"
    return [c for c in CASES if c.name in wanted or c.name == "good"]


def describe(cases: list[Case]) -> str:
    return json.dumps([c.name for c in cases])
