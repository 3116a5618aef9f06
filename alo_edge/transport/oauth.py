"""The OAuth 2.0 client-credentials grant (RFC 6749 section 4.4), the device's side.

``POST token_url`` with the form body ``grant_type=client_credentials`` (and ``scope``
when one is configured), the client authenticated by HTTP Basic with ``client_id`` and
``client_secret``, each form-urlencoded before the pair is base64-encoded (section
2.3.1). The answer (section 5.1) is JSON ``access_token``, ``token_type`` (``Bearer``)
and ``expires_in`` seconds; a refusal (section 5.2) is JSON ``{"error": code,
"error_description"?}``.

Everything the endpoint answers came over the network: each field is checked and each
problem is named, and every error is retryable (a refusal is an AuthError, retried at
the backoff cap; a bad answer a SignallingError; an unreachable or failing endpoint a
TransportError that honours Retry-After). Neither the secret nor the token appears in
any message: the server's own error text is quoted only after the secret is masked in it.

Hand-written on aiohttp (which the device already uses) rather than through an OAuth
library: the grant is one form POST, and the libraries either bring a second HTTP stack
(Authlib and httpx-oauth use httpx or requests), validate less than this does
(oauthlib checks neither the token type nor ``expires_in``), or inject the bearer into
every request of a session (aiohttp-oauth2-client), which would send it to any origin.
"""

from __future__ import annotations

import base64
import json
import math
import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote_plus

import aiohttp

from alo_edge.errors import AuthError, SignallingError, TransportError
from alo_edge.transport.http import (
    HTTP_TIMEOUT,
    MAX_JSON_BYTES,
    map_transport_errors,
    read_limited,
    retry_after_seconds,
)

GRANT_TYPE = "client_credentials"
#: RFC 6749 5.2: ``error`` is %x20-21 / %x23-5B / %x5D-7E; anything else is not a code.
_ERROR_CODE = re.compile(r"^[\x20\x21\x23-\x5b\x5d-\x7e]{1,64}$")
_MAX_REASON = 200


@dataclass(frozen=True)
class TokenGrant:
    """A token the endpoint granted: the bearer and how many seconds it lives."""

    access_token: str = field(repr=False)
    expires_in: float
    #: The scope granted, when the endpoint named one (RFC 6749 5.1).
    scope: str | None = None


def basic_credentials(client_id: str, client_secret: str) -> str:
    """The ``Authorization`` value for HTTP Basic client authentication (RFC 6749 2.3.1).

    Both parts are form-urlencoded first (Appendix B), so a ``:`` or a non-ASCII
    character in either survives the ``id:secret`` pairing.
    """
    pair = f"{quote_plus(client_id, safe='')}:{quote_plus(client_secret, safe='')}"
    return "Basic " + base64.b64encode(pair.encode("ascii")).decode("ascii")


async def request_token(
    http: aiohttp.ClientSession,
    url: str,
    client_id: str,
    client_secret: str,
    scope: str | None = None,
) -> TokenGrant:
    """One client-credentials grant at ``url``; the validated :class:`TokenGrant`.

    Redirects are not followed: the client's secret goes to the configured endpoint only.
    """
    form = {"grant_type": GRANT_TYPE}
    if scope:
        form["scope"] = scope
    headers = {
        "Authorization": basic_credentials(client_id, client_secret),
        "Accept": "application/json",
    }
    with map_transport_errors(f"token endpoint {url}"):
        async with http.post(
            url, data=form, headers=headers, timeout=HTTP_TIMEOUT, allow_redirects=False
        ) as response:
            body = await read_limited(response, MAX_JSON_BYTES, what="token endpoint answer")
            status = response.status
            retry_after = retry_after_seconds(response.headers)
    return parse_token_answer(status, body, retry_after=retry_after, secret=client_secret)


def parse_token_answer(
    status: int, body: bytes, *, retry_after: float | None = None, secret: str = ""
) -> TokenGrant:
    """The endpoint's answer as a :class:`TokenGrant`, or the error that names what is wrong."""
    if status == 200:
        return _grant(_json_object(body))
    if 300 <= status < 400:
        raise TransportError(
            f"token endpoint answered HTTP {status} (a redirect, not followed: set "
            "alo.token_url to the endpoint itself)"
        )
    reason = _error_reason(body, secret)
    if status == 429 or status >= 500:
        raise TransportError(
            f"token endpoint answered HTTP {status}{reason}", retry_after=retry_after
        )
    raise AuthError(f"token endpoint refused the client credentials (HTTP {status}){reason}")


def _json_object(body: bytes) -> dict[str, Any]:
    try:
        answer = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise SignallingError("token endpoint answer is not JSON") from None
    if not isinstance(answer, dict):
        raise SignallingError("token endpoint answer is not a JSON object")
    return answer


def _grant(answer: dict[str, Any]) -> TokenGrant:
    token = answer.get("access_token")
    if not isinstance(token, str) or not token:
        raise SignallingError("token endpoint answer 'access_token' is missing or not a string")
    if len(token) > MAX_JSON_BYTES or any(not 0x21 <= ord(c) <= 0x7E for c in token):
        raise SignallingError(
            "token endpoint answer 'access_token' holds characters no bearer token has"
        )
    token_type = answer.get("token_type")
    if not isinstance(token_type, str):
        raise SignallingError("token endpoint answer 'token_type' is missing or not a string")
    # RFC 6749 5.1: the type is case-insensitive.
    if token_type.lower() != "bearer":
        raise SignallingError(
            f"token endpoint answer 'token_type' is {_clip(token_type)!r}; this device "
            "sends only Bearer tokens"
        )
    expires_in = _seconds(answer.get("expires_in"))
    scope = answer.get("scope")
    if scope is not None and not isinstance(scope, str):
        raise SignallingError("token endpoint answer 'scope' is not a string")
    return TokenGrant(token, expires_in, scope)


def _seconds(value: Any) -> float:
    """``expires_in``: a positive number of seconds (a digit string is taken too).

    RFC 6749 makes it RECOMMENDED; the device needs it to renew before the token
    expires, so a missing one is an error like a wrong one.
    """
    if isinstance(value, str) and value.isascii() and value.isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise SignallingError(
            "token endpoint answer 'expires_in' is missing or not a number "
            "(the device renews its token before it expires and needs its lifetime)"
        )
    if not math.isfinite(value) or value <= 0:
        raise SignallingError(
            f"token endpoint answer 'expires_in' is {value!r}; expected a positive number"
        )
    return float(value)


def _error_reason(body: bytes, secret: str) -> str:
    """``: <error>: <description>`` from a RFC 6749 5.2 error answer, or ``""``."""
    try:
        answer = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return ""
    if not isinstance(answer, dict):
        return ""
    code = answer.get("error")
    if not isinstance(code, str) or not _ERROR_CODE.match(code):
        return ""
    reason = f": {code}"
    description = answer.get("error_description")
    if isinstance(description, str) and description.strip():
        reason += f": {_clip(description)}"
    # A hostile endpoint could echo what it was sent; the secret must not reach a log.
    return reason.replace(secret, "********") if secret else reason


def _clip(text: str) -> str:
    printable = "".join(c if c.isprintable() else " " for c in text)
    return " ".join(printable.split())[:_MAX_REASON]
