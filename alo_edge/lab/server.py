"""The lab's HTTP face: ALO-style auth and access endpoints, WHIP ingest, a status page.

It also relays each channel to browsers (``GET /view/<channel>``, see ``view.py``) and
keeps the states a device reports to ``POST /api/channels/<channel>/events``; a WHIP
answer names that URL in a ``Link: <...>; rel="urn:x-alo-edge:events"`` header.

It lets a device be tried end to end with no cloud account. It binds loopback by
default and its status endpoints have no auth, so it is a development tool, not a
production service.
"""

from __future__ import annotations

import errno
import hmac
import logging
import os
import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import web

from alo_edge.errors import AloEdgeError
from alo_edge.lab.expiry import SessionExpiry
from alo_edge.lab.index import index_page
from alo_edge.lab.ingest import Channel, Channels, OfferError, check_offer
from alo_edge.lab.oauth import add_oauth_routes
from alo_edge.lab.requests import (
    HttpError,
    bearer_of,
    errors_as_json,
    public_origin,
    read_json_object,
    read_limited,
)
from alo_edge.lab.tokens import (
    MIN_SECRET_BYTES,
    LabAuthError,
    iso_utc,
    mint_token,
    verify_token,
)
from alo_edge.lab.turn import turn_ice_servers
from alo_edge.lab.view import add_view_routes
from alo_edge.session.states import ConnectionState
from alo_edge.transport.ice import pin_host_addresses, rtc_configuration

logger = logging.getLogger(__name__)

MAX_SDP_BYTES = 64 * 1024
DEFAULT_TTL_MINUTES = 60.0
MAX_TTL_MINUTES = 7 * 24 * 60.0
_CHANNEL_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")
_MAX_USER_ID = 256
#: The Link relation under which a WHIP answer names the channel's state-report URL.
EVENTS_REL = "urn:x-alo-edge:events"
MAX_REPORTED_EVENTS = 100
_MAX_EVENT_TEXT = 300


@dataclass(frozen=True)
class LabSettings:
    """Where the lab listens and the credentials it trusts."""

    api_key: str
    secret: str
    host: str = "127.0.0.1"
    port: int = 0
    host_addresses: tuple[str, ...] = ("127.0.0.1",)
    #: Seconds a token from the client-credentials endpoint lives (/v1/oauth/token).
    client_token_ttl: float = 600.0
    #: End a WHIP session when the token it was published with expires.
    end_sessions_at_expiry: bool = False
    #: Where issued client credentials are kept (None: in memory only).
    clients_file: Path | None = None
    #: TURN servers named in access answers, with short-lived credentials derived from
    #: ``turn_secret`` (the TURN server's shared secret; see alo_edge.lab.turn).
    turn_urls: tuple[str, ...] = ()
    turn_secret: str | None = None

    def __post_init__(self) -> None:
        # Fail at construction, not on the first request, when a credential is unusable.
        if not self.api_key:
            raise ValueError("api_key must not be empty")
        if len(self.secret.encode()) < MIN_SECRET_BYTES:
            raise ValueError(f"secret must be at least {MIN_SECRET_BYTES} bytes")
        if not 0 <= self.port <= 65535:
            raise ValueError(f"port must be in 0-65535, got {self.port}")

    def __repr__(self) -> str:
        # The key and the secret must never reach a log line through a repr.
        return (
            f"LabSettings(host={self.host!r}, port={self.port!r}, "
            f"host_addresses={self.host_addresses!r}, turn_urls={self.turn_urls!r}, "
            "api_key=***, secret=***, turn_secret=***)"
        )


class LabListenError(AloEdgeError, OSError):
    """The lab cannot listen where it was asked (the port is taken, the address is not ours)."""

    def __init__(self, host: str, port: int, error: OSError) -> None:
        reason = os.strerror(error.errno) if error.errno else str(error)
        taken = error.errno == errno.EADDRINUSE
        busy = " (another lab, or another program, has it)" if taken else ""
        where = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        super().__init__(f"the lab cannot listen on {where}: {reason.lower()}{busy}")


@dataclass
class _LabState:
    settings: LabSettings
    channels: Channels
    wall_clock: Callable[[], float]
    expiry: SessionExpiry | None = None
    closing: bool = False


_STATE = web.AppKey("alo_lab_state", _LabState)


def _require_api_key(request: web.Request) -> None:
    given = bearer_of(request)
    expected = request.app[_STATE].settings.api_key
    if given is None:
        raise HttpError(401, "missing API key: send 'Authorization: Bearer <api key>'")
    if not hmac.compare_digest(given.encode(), expected.encode()):
        raise HttpError(401, "wrong API key")


def _require_token(request: web.Request, *, whip: bool = False) -> dict[str, Any]:
    state = request.app[_STATE]
    try:
        return verify_token(state.settings.secret, bearer_of(request), state.wall_clock())
    except LabAuthError as error:
        headers = {"WWW-Authenticate": 'Bearer realm="alo-lab"'} if whip else None
        raise HttpError(401, str(error), headers=headers) from None


def _user_id(body: dict[str, Any]) -> str:
    user = body.get("user")
    if not isinstance(user, dict):
        raise HttpError(400, "'user' must be an object with an 'id'")
    user_id = user.get("id")
    if not isinstance(user_id, str) or not user_id or len(user_id) > _MAX_USER_ID:
        raise HttpError(400, f"'user.id' must be a string of 1-{_MAX_USER_ID} characters")
    return user_id


def _ttl_minutes(body: dict[str, Any]) -> float:
    ttl = body.get("ttl", DEFAULT_TTL_MINUTES)
    if isinstance(ttl, bool) or not isinstance(ttl, int | float) or not 0 < ttl <= MAX_TTL_MINUTES:
        raise HttpError(400, f"'ttl' must be a number of minutes in (0, {MAX_TTL_MINUTES:g}]")
    return float(ttl)


def _channel_name(name: object, *, field: str = "channel") -> str:
    if not isinstance(name, str) or not _CHANNEL_NAME.fullmatch(name):
        raise HttpError(400, f"'{field}' must be 1-64 characters of A-Z, a-z, 0-9, '_' or '-'")
    return name


async def _auth(request: web.Request) -> web.Response:
    """POST /v1/auth: mint a user token, as ALO's auth service does."""
    _require_api_key(request)
    body = await read_json_object(request)
    user_id = _user_id(body)
    ttl = _ttl_minutes(body)
    state = request.app[_STATE]
    now = state.wall_clock()
    token = mint_token(state.settings.secret, user_id, ttl, now)
    claims = verify_token(state.settings.secret, token, now)
    logger.info("minted a %g-minute token for user %s", ttl, user_id)
    return web.json_response({"token": token, "expiresAt": iso_utc(claims["exp"])})


async def _access(request: web.Request) -> web.Response:
    """POST /v1/video/access: tell a device where and how to publish."""
    claims = _require_token(request)
    body = await read_json_object(request)
    user_id = _user_id(body)
    channel = _channel_name(body.get("channel"))
    if user_id != claims["sub"]:
        raise HttpError(403, "'user.id' does not match the user the token was issued for")
    token = bearer_of(request)
    url = f"{public_origin(request)}/whip/{channel}"
    settings = request.app[_STATE].settings
    now = request.app[_STATE].wall_clock()
    servers = turn_ice_servers(settings.turn_urls, settings.turn_secret, user_id, now)
    logger.info("access granted to user %s for channel %s", user_id, channel)
    return web.json_response(
        {"transport": "whip", "url": url, "token": token, "iceServers": servers}
    )


async def _whip_publish(request: web.Request) -> web.Response:
    """POST /whip/{channel}: take a WHIP offer, answer it, start ingesting."""
    state = request.app[_STATE]
    claims = _require_token(request, whip=True)
    name = _channel_name(request.match_info["channel"])
    if request.content_type != "application/sdp":
        raise HttpError(415, "Content-Type must be application/sdp")
    raw = await read_limited(request, MAX_SDP_BYTES)
    try:
        offer = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise HttpError(400, "SDP offer is not UTF-8 text") from None
    if state.closing:
        raise HttpError(503, "the lab is shutting down")
    channel = state.channels.get_or_create(name)
    try:
        # Checked before a peer connection exists, so junk never costs one.
        check_offer(offer)
    except OfferError as error:
        channel.stats.last_error = str(error)
        raise HttpError(400, str(error)) from None
    session_id = secrets.token_hex(16)
    session = channel.new_session(session_id, rtc_configuration([]))
    try:
        answer = await session.accept(offer)
    except OfferError as error:
        await session.close()
        channel.stats.last_error = str(error)
        raise HttpError(400, str(error)) from None
    except BaseException:
        await session.close()
        raise
    if state.closing:
        # stop() already swept the channels; this session would outlive the lab.
        await session.close()
        raise HttpError(503, "the lab is shutting down")
    await channel.install(session, user=claims["sub"])
    if state.expiry is not None:
        state.expiry.watch(channel, session_id, float(claims["exp"]))
    logger.info("channel %s: session %s started", name, session_id)
    events_url = f"{public_origin(request)}/api/channels/{name}/events"
    return web.Response(
        status=201,
        text=answer,
        content_type="application/sdp",
        headers={
            "Location": f"/whip/{name}/{session_id}",
            "Link": f'<{events_url}>; rel="{EVENTS_REL}"',
        },
    )


def _known_channel(request: web.Request) -> Channel:
    name = _channel_name(request.match_info["channel"])
    channel = request.app[_STATE].channels.get(name)
    if channel is None:
        raise HttpError(404, f"no channel {name!r}")
    return channel


async def _whip_delete(request: web.Request) -> web.Response:
    """DELETE /whip/{channel}/{session_id}: the publisher leaves."""
    _require_token(request, whip=True)
    channel = _known_channel(request)
    session_id = request.match_info["session_id"]
    if not await channel.end_session(session_id):
        taker = channel.replaced_by(session_id)
        if taker is not None:
            # The publisher learns why its session ended (the device says so in its error).
            message = f"another device signed in as {taker} took this session"
            body = {"error": message, "replacedBy": {"user": taker}}
            return web.json_response(body, status=410)
        raise HttpError(404, "no such session")
    channel.stats.deletes += 1
    logger.info("channel %s: session %s deleted by the publisher", channel.name, session_id)
    return web.json_response({"deleted": session_id})


async def _kick(request: web.Request) -> web.Response:
    """POST /api/channels/{channel}/kick: end the live session as a failing server would."""
    _require_api_key(request)
    channel = _known_channel(request)
    session = channel.session
    if session is None or not session.live:
        raise HttpError(404, f"no live session on channel {channel.name!r}")
    await channel.end_session(session.session_id)
    logger.info("channel %s: session %s kicked", channel.name, session.session_id)
    return web.json_response({"kicked": session.session_id})


def _channel_report(channel: Channel, latency_since: float | None = None) -> dict[str, Any]:
    stats = channel.stats
    return {
        "connected": stats.connected,
        "framesDecoded": stats.frames_decoded,
        "fps": round(stats.fps(), 1),
        "width": stats.width,
        "height": stats.height,
        "audioFrames": stats.audio_frames,
        "audioFrequency": stats.tone.dominant_frequency(),
        "latencyMs": stats.latency.percentiles(latency_since),
        "sessions": stats.sessions_total,
        "deletes": stats.deletes,
        "expiredSessions": stats.expired_sessions,
        "lastError": stats.last_error,
        "audioLevel": round(stats.audio_level, 3),
        "talkback": stats.talkback,
        "viewers": channel.live.viewer_count,
        "talking": channel.live.talkback.talking(),
    }


async def _channel(request: web.Request) -> web.Response:
    """GET /api/channels/{channel}: one channel's report and the states its device reported."""
    channel = _known_channel(request)
    report = {"name": channel.name, **_channel_report(channel)}
    return web.json_response({**report, "timeline": list(channel.live.timeline)})


_STATES = {state.value for state in ConnectionState}


def _reported_event(raw: object, where: str) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise HttpError(400, f"'{where}' must be an object")
    ts, state = raw.get("ts"), raw.get("state")
    if isinstance(ts, bool) or not isinstance(ts, int | float):
        raise HttpError(400, f"'{where}.ts' must be a number (epoch seconds)")
    if state not in _STATES:
        raise HttpError(400, f"'{where}.state' must be one of {', '.join(sorted(_STATES))}")
    event: dict[str, Any] = {"ts": float(ts), "state": state}
    for key in ("message", "stateMessage"):
        if isinstance(raw.get(key), str):
            event[key] = raw[key][:_MAX_EVENT_TEXT]
    for key in ("retryCount", "pendingRestartSeconds"):
        value = raw.get(key)
        if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
            event[key] = value
    return event


async def _report_events(request: web.Request) -> web.Response:
    """POST /api/channels/{channel}/events: a device reports its connection states.

    Body ``{"events": [{"ts", "state", "message"?, "retryCount"?, ...}]}`` with the
    device's bearer token; the view page shows them as the channel's timeline.
    """
    _require_token(request)
    name = _channel_name(request.match_info["channel"])
    body = await read_json_object(request)
    raw_events = body.get("events")
    if not isinstance(raw_events, list) or len(raw_events) > MAX_REPORTED_EVENTS:
        raise HttpError(400, f"'events' must be a list of at most {MAX_REPORTED_EVENTS} objects")
    events = [_reported_event(raw, f"events[{i}]") for i, raw in enumerate(raw_events)]
    channel = request.app[_STATE].channels.get_or_create(name)
    return web.json_response({"accepted": channel.live.record_states(events)})


async def _channels(request: web.Request) -> web.Response:
    """GET /api/channels: what each channel has received.

    ``?latencySince=EPOCH``: latency percentiles over the pictures decoded since then.
    """
    channels = request.app[_STATE].channels
    raw_since = request.query.get("latencySince")
    try:
        since = None if raw_since is None else float(raw_since)
    except ValueError:
        raise HttpError(400, "'latencySince' must be a number (epoch seconds)") from None
    return web.json_response(
        {"channels": {channel.name: _channel_report(channel, since) for channel in channels}}
    )


async def _index(request: web.Request) -> web.Response:
    """GET /: a plain, self-refreshing table of the channels."""
    reports = [(c.name, _channel_report(c)) for c in request.app[_STATE].channels]
    return web.Response(text=index_page(reports), content_type="text/html")


async def _whip_options(request: web.Request) -> web.Response:
    """OPTIONS /whip/{channel}: the harmless request a WHIP endpoint answers.

    Without a bearer (a browser's CORS preflight) it is 204; with one, the token is
    checked as a publish would check it (401 when refused), and nothing is published:
    ``alo-edge check`` asks this to prove the endpoint and the token.
    """
    _channel_name(request.match_info["channel"])
    if "Authorization" in request.headers:
        _require_token(request, whip=True)
    return web.Response(status=204, headers={"Accept-Post": "application/sdp"})


async def _close_sessions(app: web.Application) -> None:
    state = app[_STATE]
    state.closing = True
    if state.expiry is not None:
        await state.expiry.close()
    await state.channels.close_all()


def create_app(
    settings: LabSettings, *, wall_clock: Callable[[], float] = time.time
) -> web.Application:
    """The lab as an aiohttp application (sessions are closed on the app's shutdown)."""
    app = web.Application(middlewares=[errors_as_json], client_max_size=MAX_SDP_BYTES + 1)
    expiry = SessionExpiry(wall_clock) if settings.end_sessions_at_expiry else None
    app[_STATE] = _LabState(
        settings=settings, channels=Channels(), wall_clock=wall_clock, expiry=expiry
    )
    app.router.add_get("/", _index)
    app.router.add_post("/v1/auth", _auth)
    app.router.add_post("/v1/video/access", _access)
    app.router.add_post("/whip/{channel}", _whip_publish)
    app.router.add_route("OPTIONS", "/whip/{channel}", _whip_options)
    app.router.add_delete("/whip/{channel}/{session_id}", _whip_delete)
    app.router.add_get("/api/channels", _channels)
    app.router.add_post("/api/channels/{channel}/kick", _kick)
    app.router.add_get("/api/channels/{channel}", _channel)
    app.router.add_post("/api/channels/{channel}/events", _report_events)
    add_view_routes(app, app[_STATE].channels, lambda: app[_STATE].closing)
    add_oauth_routes(app, settings, wall_clock)
    app.on_shutdown.append(_close_sessions)
    return app


class LabServer:
    """Runs :func:`create_app` on ``settings.host``:``settings.port``."""

    def __init__(self, settings: LabSettings) -> None:
        self._settings = settings
        self._app = create_app(settings)
        self._runner: web.AppRunner | None = None
        self._url: str | None = None

    @property
    def settings(self) -> LabSettings:
        """The settings the lab was created with."""
        return self._settings

    @property
    def url(self) -> str:
        """The base URL the lab answers on, with the real port when port 0 was asked for."""
        if self._url is None:
            raise RuntimeError("the lab is not started")
        return self._url

    async def start(self) -> None:
        """Listen; aioice is told which host addresses to offer (it skips 127.0.0.1 otherwise)."""
        if self._runner is not None:
            raise RuntimeError("the lab is already started")
        pin_host_addresses(self._settings.host_addresses)
        # In-flight requests get a short grace period; a lab stop should be quick.
        runner = web.AppRunner(self._app, access_log=None, shutdown_timeout=2.0)
        await runner.setup()
        try:
            site = web.TCPSite(runner, self._settings.host, self._settings.port)
            await site.start()
        except OSError as exc:
            await runner.cleanup()
            raise LabListenError(self._settings.host, self._settings.port, exc) from None
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        host, port = runner.addresses[0][:2]
        self._url = f"http://{host}:{port}" if ":" not in host else f"http://[{host}]:{port}"
        logger.info("lab listening on %s", self._url)

    async def stop(self) -> None:
        """Close every ingest session first (publishers see a DTLS close), then stop listening."""
        runner, self._runner = self._runner, None
        if runner is None:
            return
        await _close_sessions(self._app)
        await runner.cleanup()
        self._url = None
        logger.info("lab stopped")
