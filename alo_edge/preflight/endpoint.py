"""The server pre-flight: reachable (DNS, TCP, TLS), and what it answers a harmless request.

What "harmless" means depends on the server, and nothing here publishes:

- an ALO-style **access endpoint** (``alo.access_url``) is asked exactly what the
  device asks on every attempt: ``POST {"user", "channel"}`` with the token. It only
  grants access (no media, no session), and it is the one request that proves the
  token is accepted for this user and channel. Its answer names the media server,
  which is then checked in turn;
- a **WHIP endpoint** has no read-only request that checks a token (RFC 9725: a POST
  creates a session, GET/HEAD/PUT are 405). An ``OPTIONS`` with the bearer is the
  harmless one: simple-whip-server answers it 204 (with its ICE servers when the token
  is right), the lab 204, or 401 for a token it refuses; 404 means no endpoint there;
- **Janus** answers ``{"janus": "info"}`` on its WebSocket without a session: that
  proves the server, its version and that the VideoRoom plugin is loaded. Janus checks
  a token only when the device joins.

The server's ``Date`` header also tells how far this device's clock is off.
"""

from __future__ import annotations

import json
import os
import secrets
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from alo_edge.config import Config
from alo_edge.errors import AloEdgeError, SignallingError
from alo_edge.preflight.base import Finding, Verdict
from alo_edge.preflight.probe import Answer, ProbeError, Target, open_socket, request
from alo_edge.preflight.token import UNIT_CREDENTIAL_FILE, token_source
from alo_edge.session.access import check_not_expired, read_token
from alo_edge.transport.access_answer import parse_answer

TIMEOUT = 5.0
#: A clock further than this from the server's is worth a warning (JWT and TLS dates).
CLOCK_SKEW_WARNING = 60.0
JANUS_SUBPROTOCOL = "janus-protocol"
VIDEOROOM = "janus.plugin.videoroom"


class EndpointCheck:
    """The access endpoint and the media server the device would publish to."""

    name = "endpoint"

    def __init__(
        self,
        *,
        timeout: float = TIMEOUT,
        wall_clock: Callable[[], float] = time.time,
        environ: Mapping[str, str] | None = None,
        unit_credential: Path = UNIT_CREDENTIAL_FILE,
    ) -> None:
        self._timeout = timeout
        self._wall_clock = wall_clock
        self._environ = environ
        self._unit_credential = unit_credential

    def run(self, config: Config) -> list[Finding]:
        environ = os.environ if self._environ is None else self._environ
        token = usable_token(config, self._wall_clock(), environ, self._unit_credential)
        alo = config.alo
        if alo.access_url:
            findings, answer, media = self._access(config, alo.access_url, token)
            findings += self._clock(answer)
            if media is not None:
                transport, url, media_token = media
                findings += self._media(transport, url, media_token, from_access=True)
            return findings
        assert alo.url is not None  # the config rules require url without access_url
        return self._media(alo.transport, alo.url, token, from_access=False)

    def _access(
        self, config: Config, url: str, token: str | None
    ) -> tuple[list[Finding], Answer | None, tuple[str, str, str] | None]:
        what = "access endpoint"
        if token is None:
            answer, finding = self._reach(what, url)
            return [finding], answer, None
        body = json.dumps({"user": device_user(config), "channel": config.alo.channel})
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        try:
            answer = self._request(url, "POST", headers, body.encode())
        except ProbeError as exc:
            return [_unreachable(what, url, exc)], None, None
        if answer.status in (401, 403):
            return [_refused(what, url, answer)], answer, None
        if answer.status != 200:
            return [_bad_status(what, url, answer, "alo.access_url")], answer, None
        try:
            access = parse_answer(answer.body, default_token=token)
        except SignallingError as exc:
            finding = Finding(what, Verdict.FAIL, f"{url}: {exc}", fix=_SERVER_FIX)
            return [finding], answer, None
        granted = (
            f"{url} grants channel {config.alo.channel} to user {config.device.user_id}: "
            f"{access.transport} at {access.url}"
        )
        media = (access.transport, access.url, access.token)
        return [Finding(what, Verdict.OK, granted)], answer, media

    def _media(
        self, transport: str, url: str, token: str | None, *, from_access: bool
    ) -> list[Finding]:
        if transport == "janus":
            return [self._janus(url)]
        what = "WHIP endpoint"
        key = "the access answer's url" if from_access else "alo.url"
        if token is None:
            answer, finding = self._reach(what, url)
            return [finding] if from_access else [finding, *self._clock(answer)]
        try:
            answer = self._request(url, "OPTIONS", {"Authorization": f"Bearer {token}"})
        except ProbeError as exc:
            return [_unreachable(what, url, exc)]
        clock = [] if from_access else self._clock(answer)
        if answer.status in (401, 403):
            return [_refused(what, url, answer), *clock]
        if answer.status == 404:
            message = f"{url}: no WHIP endpoint there (HTTP 404)"
            return [Finding(what, Verdict.FAIL, message, fix=f"check {key}"), *clock]
        if answer.status < 300 or answer.status == 405:
            message = (
                f"{url} answers an authenticated OPTIONS with HTTP {answer.status} "
                "(nothing published; a WHIP server checks the token when publishing)"
            )
            return [Finding(what, Verdict.OK, message), *clock]
        return [_bad_status(what, url, answer, key), *clock]

    def _janus(self, url: str) -> Finding:
        what = "Janus"
        try:
            open_socket(Target.parse(url), self._timeout).close()
            info = _janus_info(url, self._timeout)
        except ProbeError as exc:
            return _unreachable(what, url, exc)
        plugins = info.get("plugins")
        version = info.get("version_string", "?")
        if not isinstance(plugins, dict) or VIDEOROOM not in plugins:
            message = f"{url}: Janus {version} answers, but without the VideoRoom plugin"
            fix = "load janus.plugin.videoroom in the server's janus.jcfg (the device joins a room)"
            return Finding(what, Verdict.FAIL, message, fix=fix)
        message = (
            f"{url}: Janus {version} answers `info`, VideoRoom loaded "
            "(Janus checks the token when the device joins)"
        )
        return Finding(what, Verdict.OK, message)

    def _reach(self, what: str, url: str) -> tuple[Answer | None, Finding]:
        """Without a usable token: is the server there at all? (the token line says why not)."""
        try:
            answer = self._request(url, "OPTIONS", {})
        except ProbeError as exc:
            return None, _unreachable(what, url, exc)
        message = f"{url} answers (HTTP {answer.status}); no usable token to try (see token)"
        return answer, Finding(what, Verdict.SKIP, message)

    def _request(
        self, url: str, method: str, headers: dict[str, str], body: bytes | None = None
    ) -> Answer:
        return request(url, method, headers=headers, body=body, timeout=self._timeout)

    def _clock(self, answer: Answer | None) -> list[Finding]:
        server = None if answer is None else answer.server_time()
        if server is None:
            return []
        skew = self._wall_clock() - server
        if abs(skew) <= CLOCK_SKEW_WARNING:
            return [Finding("clock", Verdict.OK, f"within {abs(skew):.0f} s of the server's")]
        side = "ahead of" if skew > 0 else "behind"
        return [
            Finding(
                "clock",
                Verdict.WARN,
                f"{abs(skew):.0f} s {side} the server's (its Date header): token expiry "
                "and certificate dates are judged by this clock",
                fix="synchronize the clock (`timedatectl status`: NTP on, synchronized)",
            )
        ]


_SERVER_FIX = "the server is not answering as an ALO access endpoint: check alo.access_url"


def device_user(config: Config) -> dict[str, str]:
    """The ``user`` the device sends in its access request (``VideoUser.to_dict``)."""
    device = config.device
    user = {"id": device.user_id, "name": device.name or device.user_id}
    if device.device_id:
        user["deviceId"] = device.device_id
    return user


def usable_token(
    config: Config, now: float, environ: Mapping[str, str], unit_credential: Path
) -> str | None:
    """The token the device would send now, or None (the token check says why not)."""
    try:
        path, _ = token_source(config, environ, unit_credential)
        token = read_token(path)
        check_not_expired(token, now)
    except AloEdgeError:
        return None
    return token


def _unreachable(what: str, url: str, exc: ProbeError) -> Finding:
    fixes = {
        "URL": "correct the URL in the config",
        "DNS": "check the host name, and the network's DNS (`resolvectl status`)",
        "TCP": "is the server up on that port, and does a firewall let the device through?",
        "TLS": "install the CA that signed the server's certificate, or fix the server's",
        "HTTP": "the server accepted the connection but did not answer HTTP: check the URL",
    }
    fix = fixes.get(exc.step, "check the URL")
    if exc.clock_suspect:
        fix = "synchronize the clock (`timedatectl status`), a certificate's dates are judged by it"
    return Finding(what, Verdict.FAIL, f"{url}: {exc}", fix=fix)


def _refused(what: str, url: str, answer: Answer) -> Finding:
    message = f"{url} refused the token (HTTP {answer.status}){_reason(answer)}"
    fix = "the token is not valid for this server or user: put a fresh one in place"
    return Finding(what, Verdict.FAIL, message, fix=fix)


def _bad_status(what: str, url: str, answer: Answer, key: str) -> Finding:
    message = f"{url} answered HTTP {answer.status}{_reason(answer)}"
    fix = f"check {key}" if answer.status < 500 else "the server is failing: its logs say why"
    return Finding(what, Verdict.FAIL, message, fix=fix)


def _reason(answer: Answer) -> str:
    """``: <the server's reason>`` from a JSON ``{"error"}`` or a short text body."""
    text = ""
    try:
        payload = json.loads(answer.body)
        if isinstance(payload, dict) and isinstance(payload.get("error"), str):
            text = payload["error"]
    except (ValueError, UnicodeDecodeError):
        if answer.headers.get("content-type", "").startswith("text/plain"):
            text = answer.body.decode("utf-8", "replace")
    text = " ".join(text.split())[:200]
    if text.startswith(str(answer.status)):
        return ""  # a stock "404: Not Found" says nothing the status does not
    return f": {text}" if text and text.isprintable() else ""


def _janus_info(url: str, seconds: float) -> dict[str, Any]:
    """``{"janus": "info"}`` over Janus's WebSocket API: the ``server_info`` answer."""
    # Janus speaks only WebSocket: an event loop and aiohttp, which only a Janus config
    # pays for (the HTTP checks use the standard library's blocking client).
    import asyncio

    return asyncio.run(_ask_janus_info(url, seconds))


async def _ask_janus_info(url: str, seconds: float) -> dict[str, Any]:
    import asyncio

    import aiohttp

    transaction = secrets.token_hex(8)
    try:
        async with (
            aiohttp.ClientSession() as http,
            http.ws_connect(
                url,
                protocols=(JANUS_SUBPROTOCOL,),
                timeout=aiohttp.ClientWSTimeout(ws_close=seconds),
                max_msg_size=512 * 1024,
            ) as ws,
        ):
            await ws.send_json({"janus": "info", "transaction": transaction})
            async with asyncio.timeout(seconds):
                while True:
                    message = await ws.receive()
                    if message.type is not aiohttp.WSMsgType.TEXT:
                        raise ProbeError("Janus", f"the WebSocket closed ({message.type.name})")
                    reply = json.loads(message.data)
                    if isinstance(reply, dict) and reply.get("transaction") == transaction:
                        break
    except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
        reason = " ".join(str(exc).split())[:200] or type(exc).__name__
        raise ProbeError("Janus", f"no answer to `info` ({reason})") from None
    if reply.get("janus") != "server_info":
        raise ProbeError("Janus", f"answered `info` with {str(reply.get('janus'))[:40]!r}")
    return reply
