"""ACQUIRING_ACCESS: read the token, check it has not expired, ask the access endpoint.

The token is read again on every attempt, so a token rotated on disk (or through a
systemd credential) heals a device that was refused. An expired JWT is reported
before any request is sent: there is no point in asking a server to refuse it.
"""

from __future__ import annotations

import base64
import json
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp

from alo_edge.config import AloConfig, Config
from alo_edge.errors import AuthError, ConfigError, SignallingError, TransportError
from alo_edge.transport.http import (
    HTTP_TIMEOUT,
    MAX_JSON_BYTES,
    auth_error_for,
    read_limited,
    retry_after_seconds,
)
from alo_edge.transport.ice import ice_server_from_dict

logger = logging.getLogger(__name__)

#: The name of the token under systemd's ``LoadCredential=alo-token:/etc/alo-edge/token``.
CREDENTIAL_NAME = "alo-token"
MAX_TOKEN_BYTES = 16 * 1024
#: The transports an access answer may name, and the URL schemes each one takes.
URL_SCHEMES: dict[str, tuple[str, ...]] = {
    "whip": ("http://", "https://"),
    "janus": ("ws://", "wss://"),
}


@dataclass(frozen=True)
class Access:
    """What one connection attempt needs: where to publish, with which bearer and ICE servers."""

    transport: str
    url: str
    token: str = field(repr=False)
    ice_servers: tuple[dict[str, Any], ...] = ()
    #: Janus: the VideoRoom the access answer named (None: ``alo.room`` or the channel).
    room: int | None = None


def token_path(config: Config, environ: dict[str, str] | None = None) -> Path:
    """Where the token lives: ``alo.token_file``, else the systemd credential directory."""
    if config.alo.token_file:
        return Path(config.alo.token_file)
    credentials = (os.environ if environ is None else environ).get("CREDENTIALS_DIRECTORY")
    if credentials:
        return Path(credentials) / CREDENTIAL_NAME
    raise AuthError(
        "no token configured: set alo.token_file, or pass it as the systemd credential "
        f"{CREDENTIAL_NAME!r} (LoadCredential={CREDENTIAL_NAME}:/etc/alo-edge/token)"
    )


def read_token(path: Path) -> str:
    """Read the token file, stripped of whitespace; a missing or empty file is an AuthError."""
    try:
        with path.open("rb") as file:
            raw = file.read(MAX_TOKEN_BYTES + 1)
    except FileNotFoundError:
        raise AuthError(f"token file {path} does not exist") from None
    except OSError as exc:
        raise AuthError(f"token file {path} cannot be read: {exc.strerror}") from None
    if len(raw) > MAX_TOKEN_BYTES:
        raise AuthError(f"token file {path} is larger than {MAX_TOKEN_BYTES} bytes")
    try:
        token = raw.decode("ascii").strip()
    except UnicodeDecodeError:
        raise AuthError(f"token file {path} does not hold a text token") from None
    if not token:
        raise AuthError(f"token file {path} is empty")
    return token


def jwt_expiry(token: str) -> float | None:
    """The ``exp`` claim of a JWT, without verifying it (only the server can); None if absent.

    Opaque (non-JWT) tokens have no expiry we could know, so they yield None too.
    """
    parts = token.split(".")
    if len(parts) != 3:
        return None
    try:
        padded = parts[1] + "=" * (-len(parts[1]) % 4)
        claims = json.loads(base64.urlsafe_b64decode(padded))
    except (ValueError, json.JSONDecodeError):
        raise AuthError("token looks like a JWT but its claims cannot be decoded") from None
    exp = claims.get("exp") if isinstance(claims, dict) else None
    if exp is None:
        return None
    if isinstance(exp, bool) or not isinstance(exp, int | float):
        raise AuthError("token's 'exp' claim is not a number")
    return float(exp)


def check_not_expired(token: str, now: float) -> None:
    """Raise AuthError naming the expiry time when the JWT has expired at ``now`` (epoch s)."""
    exp = jwt_expiry(token)
    if exp is not None and exp <= now:
        when = datetime.fromtimestamp(exp, UTC).isoformat(timespec="seconds")
        raise AuthError(f"token expired at {when}; put a fresh token in place, it is re-read")


async def acquire_access(
    settings: AloConfig,
    *,
    user: dict[str, str],
    channel: str,
    token_provider: Callable[[], str],
    http: aiohttp.ClientSession,
    now: float,
) -> Access:
    """Run the access step for one attempt and say where and how to connect.

    ``token_provider`` is called on every attempt (it re-reads the token file).
    """
    token = token_provider()
    check_not_expired(token, now)
    if not settings.access_url:
        if not settings.url:
            raise ConfigError("is required when alo.access_url is not set", key="alo.url")
        return Access(settings.transport, settings.url, token)
    return await _exchange(settings.access_url, {"user": user, "channel": channel}, token, http)


async def _exchange(
    url: str, body: dict[str, Any], token: str, http: aiohttp.ClientSession
) -> Access:
    try:
        async with http.post(
            url, json=body, headers={"Authorization": f"Bearer {token}"}, timeout=HTTP_TIMEOUT
        ) as response:
            payload = await read_limited(response, MAX_JSON_BYTES, what="access answer")
            if response.status in (401, 403):
                raise auth_error_for(response.status, payload, what="access endpoint")
            if response.status != 200:
                raise TransportError(
                    f"access endpoint answered HTTP {response.status}",
                    retry_after=retry_after_seconds(response.headers),
                )
    except aiohttp.ClientError as exc:
        raise TransportError(f"access endpoint {url} unreachable: {exc}") from None
    except TimeoutError:
        raise TransportError(f"access endpoint {url} did not answer in time") from None
    return parse_access_answer(payload, default_token=token)


def parse_access_answer(payload: bytes, *, default_token: str) -> Access:
    """Validate the access endpoint's JSON; every problem names the field."""
    try:
        answer = json.loads(payload)
    except (ValueError, UnicodeDecodeError):
        raise SignallingError("access answer is not JSON") from None
    if not isinstance(answer, dict):
        raise SignallingError("access answer is not a JSON object")
    transport = answer.get("transport")
    if not isinstance(transport, str) or transport not in URL_SCHEMES:
        raise SignallingError(
            f"access answer 'transport' is {transport!r}; this device speaks 'whip' or 'janus'"
        )
    url = answer.get("url")
    schemes = URL_SCHEMES[transport]
    if not isinstance(url, str) or not url.startswith(schemes):
        raise SignallingError(
            f"access answer 'url' is missing or not a {' or '.join(schemes)} URL, "
            f"as 'transport' {transport!r} needs"
        )
    room = answer.get("room")
    if room is not None and (isinstance(room, bool) or not isinstance(room, int) or room < 1):
        raise SignallingError("access answer 'room' is not a positive integer")
    token = answer.get("token", default_token)
    if not isinstance(token, str) or not token:
        raise SignallingError("access answer 'token' is not a string")
    servers = answer.get("iceServers", [])
    if not isinstance(servers, list) or not all(isinstance(s, dict) for s in servers):
        raise SignallingError("access answer 'iceServers' is not a list of objects")
    for i, server in enumerate(servers):
        try:
            ice_server_from_dict(server, where=f"iceServers[{i}]")
        except ValueError as exc:
            raise SignallingError(f"access answer {exc}") from None
    return Access(transport, url, token, tuple(servers), room)
