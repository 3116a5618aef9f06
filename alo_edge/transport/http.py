"""HTTP helpers every signalling client shares: bounded reads, Retry-After, auth errors,
the bearer header, and the one translation of aiohttp's errors into alo-edge's tree.

httpx's ``map_exceptions`` is the model: the library underneath raises its own classes,
and exactly one place here turns them into :class:`~alo_edge.errors.TransportError`,
so no caller writes the same ``except aiohttp.ClientError`` ladder again.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import aiohttp

from alo_edge.errors import (
    AloEdgeError,
    AuthError,
    ConflictError,
    SignallingError,
    TokenRejectedError,
    TransportError,
)
from alo_edge.transport.origin import OriginRefused
from alo_edge.urls import MASK, mask_urls_in

#: No signalling request may hang a connection attempt for longer than this.
HTTP_TIMEOUT = aiohttp.ClientTimeout(total=10, sock_connect=5)
MAX_JSON_BYTES = 64 * 1024
MAX_SDP_BYTES = 256 * 1024
#: A server may ask for a pause, but not put a door intercom to sleep for a day.
MAX_RETRY_AFTER = 600.0
#: How much of a server's reason text an error shows.
MAX_REASON_CHARS = 200
#: A 403 whose reason says this is a conflict with an earlier session, not a refused token
#: (simple-whip-server: "Endpoint ID already in use").
#: Anything shaped like a JWT (a base64url JSON header, "eyJ..."), whoever's it is.
_JWT_LIKE = re.compile(r"eyJ[A-Za-z0-9_-]*(?:\.[A-Za-z0-9_-]*){0,2}")
_IN_USE = re.compile(r"\bin use\b|already (exists|publishing|taken)|\bconflict", re.IGNORECASE)


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
    except OriginRefused as exc:
        raise SignallingError(f"{what}: {exc}") from None
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


def server_reason(body: bytes, *, secrets: Sequence[str] = ()) -> str:
    """The server's own words about a refusal, fit for one log line; "" when it gave none.

    A JSON ``error`` (RFC 6749 style), ``message`` or ``reason`` string, else the body
    as text (simple-whip-server answers plain text). Control characters become spaces,
    ``secrets`` (the token it was sent) and URL secrets are masked, and the result is
    cut to MAX_REASON_CHARS: a server cannot put the token or a page of HTML into the
    device's logs.
    """
    text = ""
    try:
        payload = json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError):
        payload = None
    if isinstance(payload, dict):
        for key in ("error", "message", "reason"):
            if isinstance(payload.get(key), str):
                text = payload[key]
                break
    elif payload is None and not body.lstrip().startswith(b"<"):
        text = body[: 4 * MAX_REASON_CHARS].decode("utf-8", "replace")
    text = " ".join("".join(c if c.isprintable() else " " for c in text).split())
    for secret in secrets:
        if secret:
            text = text.replace(secret, MASK)
    text = _JWT_LIKE.sub(MASK, mask_urls_in(text))
    return text[:MAX_REASON_CHARS] + ("..." if len(text) > MAX_REASON_CHARS else "")


def auth_error_for(
    status: int, body: bytes, *, what: str, secrets: Sequence[str] = ()
) -> AuthError:
    """An AuthError for a 401/403, with the server's own reason when it gave one.

    A 401 is a :class:`TokenRejectedError`: the bearer itself was refused, so a credential
    that can renew (``alo.token_url``) fetches a fresh one at once.
    """
    reason = server_reason(body, secrets=secrets)
    said = f": {reason}" if reason else ""
    if status == 401:
        return TokenRejectedError(f"{what} refused the token (HTTP {status}){said}")
    return AuthError(f"{what} denied access (HTTP {status}){said}")


def refusal_for(
    status: int,
    body: bytes,
    headers: Mapping[str, str],
    *,
    what: str,
    expected: int,
    secrets: Sequence[str] = (),
) -> AloEdgeError:
    """The error for an answer other than ``expected``, with the server's reason in it.

    409, or a 403 whose reason says "in use", is a :class:`ConflictError` (an earlier
    session of this device is still there: retried at the normal pace, not an auth
    failure); other 401/403 are AuthErrors; anything else a TransportError that
    carries the server's Retry-After.
    """
    reason = server_reason(body, secrets=secrets)
    said = f": {reason}" if reason else ""
    if status == 409 or (status == 403 and _IN_USE.search(reason)):
        return ConflictError(
            f"{what} still holds an earlier session of this device (HTTP {status}{said})",
            retry_after=retry_after_seconds(headers),
        )
    if status in (401, 403):
        return auth_error_for(status, body, what=what, secrets=secrets)
    return TransportError(
        f"{what} answered HTTP {status}, expected {expected}{said}",
        retry_after=retry_after_seconds(headers),
    )
