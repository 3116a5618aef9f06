"""The access-endpoint exchange: ask where and how to publish, validate the answer.

``POST access_url`` with the device's bearer and ``{"user": {...}, "channel": "..."}``;
the JSON answer names ``transport``, ``url``, ``token`` (the media bearer), ``room``
and ``iceServers``. Everything in the answer came over the network, so every field is
checked and each problem named; all of them are retryable (SignallingError).
"""

from __future__ import annotations

import json
from typing import Any

import aiohttp

from alo_edge.errors import SignallingError, TransportError
from alo_edge.transport.base import Access
from alo_edge.transport.http import (
    HTTP_TIMEOUT,
    MAX_JSON_BYTES,
    auth_error_for,
    bearer,
    map_transport_errors,
    read_limited,
    retry_after_seconds,
)
from alo_edge.transport.ice import usable_ice_servers

#: The transports an access answer may name, and the URL schemes each one takes.
URL_SCHEMES: dict[str, tuple[str, ...]] = {
    "whip": ("http://", "https://"),
    "janus": ("ws://", "wss://"),
}


async def exchange_access(
    url: str, body: dict[str, Any], token: str, http: aiohttp.ClientSession
) -> Access:
    """POST ``body`` to the access endpoint ``url`` with ``token``; the validated answer."""
    with map_transport_errors(f"access endpoint {url}"):
        async with http.post(
            url, json=body, headers=bearer(token), timeout=HTTP_TIMEOUT
        ) as response:
            payload = await read_limited(response, MAX_JSON_BYTES, what="access answer")
            if response.status in (401, 403):
                raise auth_error_for(response.status, payload, what="access endpoint")
            if response.status != 200:
                raise TransportError(
                    f"access endpoint answered HTTP {response.status}",
                    retry_after=retry_after_seconds(response.headers),
                )
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
    # A bad entry costs that entry (a warning names it), never the attempt.
    servers = usable_ice_servers(answer.get("iceServers", []), source="access answer")
    return Access(transport, url, token, tuple(servers), room)
