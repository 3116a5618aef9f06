"""The access-endpoint exchange: ask where and how to publish, validate the answer.

``POST access_url`` with the device's bearer and ``{"user": {...}, "channel": "..."}``;
the JSON answer names ``transport``, ``url``, ``token`` (the media bearer), ``room``
and ``iceServers``. Everything in the answer came over the network, so every field is
checked and each problem named (:mod:`.access_answer`); all of them are retryable
(SignallingError).
"""

from __future__ import annotations

from typing import Any

import aiohttp

from alo_edge.errors import TransportError
from alo_edge.transport.access_answer import URL_SCHEMES, parse_access_answer
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


__all__ = ["URL_SCHEMES", "exchange_access", "parse_access_answer"]
