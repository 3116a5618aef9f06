"""The lab's token endpoint: client credentials issued, verified and turned into short JWTs.

An operator's backend does this for a fleet; the lab does it for real so a device's
``alo.token_url`` can be tried end to end:

- ``POST /v1/clients`` (the lab's API key as bearer; body ``{"client": "door-42",
  "user": {"id": "door-42"}?}``) issues a client secret for a client id (again: a new
  secret replaces the old one). ``alo-edge token --client door-42 --out secret`` calls it.
- ``POST /v1/oauth/token`` is the OAuth 2.0 client-credentials grant (RFC 6749 4.4):
  HTTP Basic client authentication with both parts form-urlencoded (2.3.1), the form
  body ``grant_type=client_credentials`` (``scope`` is echoed), the answer
  ``{"access_token", "token_type": "Bearer", "expires_in"}`` with ``Cache-Control:
  no-store``; a refusal is ``{"error", "error_description"}`` (5.2). The token is the
  lab's HS256 JWT for the client's user, living ``client_token_ttl`` seconds.

Secrets are kept as SHA-256 digests (they are 256-bit random strings, so a digest is
enough), in memory or in ``clients.json`` in the lab's state directory (0600), so a
restarted lab still knows its clients. Nothing here logs a secret or a token.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import logging
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import unquote_plus

from aiohttp import web

from alo_edge.lab.requests import public_origin
from alo_edge.lab.tokens import mint_token
from alo_edge.secret_files import write_private_file

logger = logging.getLogger(__name__)

CLIENTS_FILE = "clients.json"
TOKEN_PATH = "/v1/oauth/token"
CLIENTS_PATH = "/v1/clients"
MAX_FORM_BYTES = 4 * 1024
#: RFC 6749 Appendix A.1: a client id is VSCHARs (printable ASCII, space included).
_CLIENT_ID = re.compile(r"[\x20-\x7e]{1,128}")
_NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


class ClientRegistry:
    """Client ids, the user each acts as, and their secrets' digests (``path``: kept there)."""

    def __init__(self, path: Path | None = None) -> None:
        self._path = path
        self._clients: dict[str, dict[str, str]] = {}
        if path is not None and path.exists():
            loaded = json.loads(path.read_text(encoding="utf-8"))
            if isinstance(loaded, dict):
                self._clients = {
                    str(k): v for k, v in loaded.items() if isinstance(v, dict) and "digest" in v
                }

    def register(self, client_id: str, user_id: str) -> str:
        """Issue a fresh secret for ``client_id`` acting as ``user_id``; returns the secret."""
        if not _CLIENT_ID.fullmatch(client_id):
            raise ValueError("client id must be 1-128 printable ASCII characters")
        secret = secrets.token_urlsafe(32)
        self._clients[client_id] = {"user": user_id, "digest": _digest(secret)}
        if self._path is not None:
            write_private_file(self._path, json.dumps(self._clients, indent=1) + "\n")
        return secret

    def verify(self, client_id: str, secret: str) -> str | None:
        """The user ``client_id`` acts as, when ``secret`` is its secret; else None."""
        entry = self._clients.get(client_id)
        # Compare against a digest either way, so an unknown id takes as long as a known one.
        expected = entry["digest"] if entry else _digest(secrets.token_urlsafe(32))
        if not hmac.compare_digest(_digest(secret), expected) or entry is None:
            return None
        return entry["user"]


@dataclass
class TokenEndpoint:
    """What the two routes need: the registry and how to mint (secret, TTL, clock)."""

    registry: ClientRegistry
    api_key: str
    signing_secret: str
    token_ttl: float
    wall_clock: Callable[[], float]

    async def issue_client(self, request: web.Request) -> web.Response:
        """POST /v1/clients: a client secret for a client id (the lab's API key required)."""
        given = request.headers.get("Authorization", "")
        scheme, _, key = given.partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(
            key.strip().encode(), self.api_key.encode()
        ):
            return web.json_response({"error": "missing or wrong API key"}, status=401)
        try:
            body = json.loads(await request.content.read(MAX_FORM_BYTES))
        except (ValueError, UnicodeDecodeError):
            return web.json_response({"error": "body is not valid JSON"}, status=400)
        client_id = body.get("client") if isinstance(body, dict) else None
        user = body.get("user") if isinstance(body, dict) else None
        user_id = user.get("id") if isinstance(user, dict) else client_id
        if not isinstance(client_id, str) or not isinstance(user_id, str) or not user_id:
            return web.json_response({"error": "'client' must be a string"}, status=400)
        try:
            secret = self.registry.register(client_id, user_id)
        except ValueError as error:
            return web.json_response({"error": str(error)}, status=400)
        logger.info("issued a client secret for client %s (user %s)", client_id, user_id)
        token_url = f"{public_origin(request)}{TOKEN_PATH}"
        answer = {"client_id": client_id, "client_secret": secret, "token_url": token_url}
        return web.json_response(answer, headers=_NO_STORE)

    async def token(self, request: web.Request) -> web.Response:
        """POST /v1/oauth/token: the client-credentials grant (RFC 6749 4.4)."""
        credentials = _basic(request.headers.get("Authorization", ""))
        if credentials is None:
            return _refusal(401, "invalid_client", "authenticate with HTTP Basic (RFC 6749 2.3.1)")
        client_id, secret = credentials
        if request.content_type != "application/x-www-form-urlencoded":
            return _refusal(400, "invalid_request", "the body must be a form")
        raw = await request.content.read(MAX_FORM_BYTES + 1)
        if len(raw) > MAX_FORM_BYTES:
            return _refusal(400, "invalid_request", "the form is too large")
        form = _form(raw)
        if form is None:
            return _refusal(400, "invalid_request", "the form cannot be parsed")
        user_id = self.registry.verify(client_id, secret)
        if user_id is None:
            return _refusal(401, "invalid_client", "unknown client or wrong secret")
        grant = form.get("grant_type")
        if grant is None:
            return _refusal(400, "invalid_request", "grant_type is missing")
        if grant != "client_credentials":
            return _refusal(400, "unsupported_grant_type", "only client_credentials")
        now = self.wall_clock()
        token = mint_token(self.signing_secret, user_id, self.token_ttl / 60.0, now)
        expires_in = max(int(now + self.token_ttl) - int(now), 1)
        answer: dict[str, Any] = {
            "access_token": token,
            "token_type": "Bearer",
            "expires_in": expires_in,
        }
        if form.get("scope"):
            answer["scope"] = form["scope"]
        logger.info("token for client %s (user %s), %d s", client_id, user_id, expires_in)
        return web.json_response(answer, headers=_NO_STORE)


class OAuthSettings(Protocol):
    """What the token endpoint takes from the lab's settings (``LabSettings`` has it)."""

    @property
    def api_key(self) -> str: ...
    @property
    def secret(self) -> str: ...
    @property
    def client_token_ttl(self) -> float: ...
    @property
    def clients_file(self) -> Path | None: ...


def add_oauth_routes(
    app: web.Application, settings: OAuthSettings, wall_clock: Callable[[], float]
) -> TokenEndpoint:
    """Route ``POST /v1/clients`` and ``POST /v1/oauth/token``; returns the endpoint."""
    if not settings.client_token_ttl > 0:
        raise ValueError(f"client_token_ttl must be positive, got {settings.client_token_ttl!r}")
    endpoint = TokenEndpoint(
        ClientRegistry(settings.clients_file),
        settings.api_key,
        settings.secret,
        settings.client_token_ttl,
        wall_clock,
    )
    app.router.add_post(CLIENTS_PATH, endpoint.issue_client)
    app.router.add_post(TOKEN_PATH, endpoint.token)
    return endpoint


def _refusal(status: int, error: str, description: str) -> web.Response:
    headers = dict(_NO_STORE)
    if status == 401:
        headers["WWW-Authenticate"] = 'Basic realm="alo-lab"'
    body = {"error": error, "error_description": description}
    return web.json_response(body, status=status, headers=headers)


def _basic(header: str) -> tuple[str, str] | None:
    """``(client_id, client_secret)`` from an HTTP Basic header, form-decoded (2.3.1)."""
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        pair = base64.b64decode(encoded.strip(), validate=True).decode("ascii")
    except (binascii.Error, UnicodeDecodeError):
        return None
    client_id, colon, secret = pair.partition(":")
    if not colon:
        return None
    return unquote_plus(client_id), unquote_plus(secret)


def _form(raw: bytes) -> dict[str, str] | None:
    """A form body; None when it is not one (a repeated parameter is an error, RFC 6749 3.2)."""
    try:
        text = raw.decode("ascii")
    except UnicodeDecodeError:
        return None
    form: dict[str, str] = {}
    for part in text.split("&"):
        if not part:
            continue
        name, _, value = part.partition("=")
        name, value = unquote_plus(name), unquote_plus(value)
        if name in form:
            return None
        form[name] = value
    return form
