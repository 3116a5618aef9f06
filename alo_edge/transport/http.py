"""HTTP helpers every signalling client shares: bounded reads, Retry-After, auth errors,
the bearer header, and the one translation of aiohttp's errors into alo-edge's tree.

httpx's ``map_exceptions`` is the model: the library underneath raises its own classes,
and exactly one place here turns them into :class:`~alo_edge.errors.TransportError`,
so no caller writes the same ``except aiohttp.ClientError`` ladder again.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import aiohttp

from alo_edge.errors import AloEdgeError, AuthError, SignallingError, TransportError

#: No signalling request may hang a connection attempt for longer than this.
HTTP_TIMEOUT = aiohttp.ClientTimeout(total=10, sock_connect=5)
MAX_JSON_BYTES = 64 * 1024
MAX_SDP_BYTES = 256 * 1024
#: A server may ask for a pause, but not put a door intercom to sleep for a day.
MAX_RETRY_AFTER = 600.0


def bearer(token: str) -> dict[str, str]:
    """The ``Authorization`` header carrying ``token`` (never logged: callers pass it on only)."""
    return {"Authorization": f"Bearer {token}"}


@contextmanager
def map_transport_errors(what: str) -> Iterator[None]:
    """Turn aiohttp's failures inside the block into a TransportError naming ``what``.

    ``what`` names the peer for a person ("access endpoint https://..."); the error
    reads "<what> unreachable: <reason>" or "<what> did not answer in time".
    Errors of alo-edge's own tree raised inside the block pass through untouched.
    """
    try:
        yield
    except AloEdgeError:
        raise  # already ours (TransportError is an OSError too: let it pass as it is)
    except (aiohttp.ClientError, OSError) as exc:
        raise TransportError(f"{what} unreachable: {exc or type(exc).__name__}") from None
    except TimeoutError:
        raise TransportError(f"{what} did not answer in time") from None


async def read_limited(response: aiohttp.ClientResponse, limit: int, *, what: str) -> bytes:
    """Read the whole body, at most ``limit`` bytes; a larger one is a SignallingError.

    ``StreamReader.read(n)`` returns what has arrived so far, up to ``n``: one call
    would truncate an answer that came in several TCP segments, so read until the end
    of the body or one byte past the limit, never more.
    """
    body = bytearray()
    while len(body) <= limit:
        chunk = await response.content.read(limit + 1 - len(body))
        if not chunk:
            break
        body += chunk
    if len(body) > limit:
        raise SignallingError(f"{what} is larger than {limit} bytes")
    return bytes(body)


def retry_after_seconds(headers: Mapping[str, str], now: datetime | None = None) -> float | None:
    """Parse Retry-After (seconds or an HTTP date) into seconds, capped; None if absent/invalid."""
    value = headers.get("Retry-After")
    if not value:
        return None
    value = value.strip()
    # isdigit() alone accepts '²' and other Unicode digits that float() refuses.
    if value.isascii() and value.isdigit():
        return min(float(value), MAX_RETRY_AFTER)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    seconds = (when - (now or datetime.now(UTC))).total_seconds()
    return min(max(seconds, 0.0), MAX_RETRY_AFTER)


def auth_error_for(status: int, body: bytes, *, what: str) -> AuthError:
    """An AuthError for a 401/403, with the server's own reason when it gave one.

    The reason is a JSON ``{"error": ...}``, or a short plain-text body: simple-whip-server
    refuses a second publisher on a busy endpoint with 403 "Endpoint ID already in use",
    which says more than any guess about the token could.
    """
    verb = "refused the token" if status == 401 else "denied access"
    return AuthError(f"{what} {verb} (HTTP {status}){_server_reason(body)}")


def _server_reason(body: bytes) -> str:
    """``": <reason>"`` from a JSON ``{"error"}`` or one short printable line; else ``""``."""
    try:
        payload = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            return ""
        text = " ".join(text.split())
        # Not markup (an HTML error page), and never anything shaped like a bearer token.
        markup_or_token = "<" in text or "eyJ" in text
        plain = text and len(text) <= 200 and text.isprintable() and not markup_or_token
        return f": {text}" if plain else ""
    reason = payload.get("error") if isinstance(payload, dict) else None
    return f": {reason[:200]}" if isinstance(reason, str) else ""
