"""What every lab route shares: JSON errors, the bearer of a request, bounded bodies."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

from aiohttp import web

logger = logging.getLogger(__name__)

#: Largest JSON body a lab route reads.
MAX_JSON_BYTES = 16 * 1024


class HttpError(Exception):
    """Turned into a JSON ``{"error": message}`` response with ``status``."""

    def __init__(self, status: int, message: str, *, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}


def error_response(error: HttpError) -> web.Response:
    return web.json_response({"error": error.message}, status=error.status, headers=error.headers)


@web.middleware
async def errors_as_json(
    request: web.Request, handler: Callable[[web.Request], Any]
) -> web.StreamResponse:
    try:
        response: web.StreamResponse = await handler(request)
    except HttpError as error:
        logger.info("%s %s -> %d: %s", request.method, request.path, error.status, error.message)
        return error_response(error)
    return response


def bearer_of(request: web.Request) -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, credentials = header.partition(" ")
    if scheme.lower() != "bearer" or not credentials.strip():
        return None
    return credentials.strip()


async def read_limited(request: web.Request, limit: int) -> bytes:
    if request.content_length is not None and request.content_length > limit:
        raise HttpError(413, f"request body larger than {limit} bytes")
    body = bytearray()
    while chunk := await request.content.read(16 * 1024):
        body += chunk
        if len(body) > limit:
            raise HttpError(413, f"request body larger than {limit} bytes")
    return bytes(body)


async def read_json_object(request: web.Request) -> dict[str, Any]:
    raw = await read_limited(request, MAX_JSON_BYTES)
    try:
        body = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise HttpError(400, f"body is not valid JSON: {error}") from None
    if not isinstance(body, dict):
        raise HttpError(400, "body must be a JSON object")
    return body


def public_origin(request: web.Request) -> str:
    """The origin the client asked for (``scheme://host[:port]``), as URLs the lab names use.

    Behind a TLS-terminating reverse proxy the lab itself sees plain http; the proxy's
    ``X-Forwarded-Proto`` says what the client used, so a device is sent back to the
    origin it trusts (and its token stays there).
    """
    forwarded = request.headers.get("X-Forwarded-Proto", "").strip().lower()
    url = request.url.with_scheme(forwarded) if forwarded in ("http", "https") else request.url
    return str(url.origin())
