"""The access-endpoint exchange: ask where and how to publish, validate the answer.

``POST access_url`` with the device's bearer and ``{"user": {...}, "channel": "..."}``;
the JSON answer names ``transport``, ``url``, ``token`` (the media bearer), ``room``
and ``iceServers``. Everything in the answer came over the network, so every field is
checked and each problem named (:mod:`.access_answer`); all of them are retryable
(SignallingError).

The answer's ``url`` must pass the origin policy (:mod:`.origin`): no plain text to a
host that is not loopback (unless ``network.allow_insecure``), no step down from the
access endpoint's TLS, and the device token, when the answer names no media token of
its own, only to the access endpoint's origin.
"""

from __future__ import annotations

from typing import Any

import aiohttp

from alo_edge.errors import SignallingError
from alo_edge.transport.access_answer import URL_SCHEMES, parse_answer
from alo_edge.transport.base import Access
from alo_edge.transport.http import (
    HTTP_TIMEOUT,
    MAX_JSON_BYTES,
    bearer,
    map_transport_errors,
    read_limited,
    refusal_for,
)
from alo_edge.transport.ice import usable_ice_servers
from alo_edge.transport.origin import OriginPolicy, OriginRefused
from alo_edge.urls import is_downgrade, mask_url, origin_of, same_origin


async def exchange_access(
    url: str,
    body: dict[str, Any],
    token: str,
    http: aiohttp.ClientSession,
    policy: OriginPolicy | None = None,
) -> Access:
    """POST ``body`` to the access endpoint ``url`` with ``token``; the validated answer.

    With ``policy``, the token is issued for ``url``'s origin and the answer's ``url``
    is checked against it (see the module docstring).
    """
    policy = policy or OriginPolicy()
    where = f"access endpoint {mask_url(url)}"
    with map_transport_errors(where):
        policy.issue(token, url, what="the access endpoint")
        async with http.post(
            url, json=body, headers=bearer(token), timeout=HTTP_TIMEOUT
        ) as response:
            payload = await read_limited(response, MAX_JSON_BYTES, what="access answer")
            if response.status != 200:
                raise refusal_for(
                    response.status,
                    payload,
                    response.headers,
                    what="access endpoint",
                    expected=200,
                    secrets=(token,),
                )
    access = parse_access_answer(payload, default_token=token)
    check_answer_url(access, url, policy, device_token=token)
    return access


def check_answer_url(
    access: Access, access_url: str, policy: OriginPolicy, *, device_token: str
) -> None:
    """Refuse an answer ``url`` the origin policy does not allow (a SignallingError).

    The media token is issued for the answer's ``url``; when the answer named no token
    the device token is reused, which only its own origin may receive.
    """
    shown = mask_url(access.url)
    if access.token == device_token and not same_origin(access.url, access_url):
        raise SignallingError(
            f"access answer 'url' {shown} is on another origin than the access endpoint "
            f"and names no 'token': the device token goes only to {origin_of(access_url)}"
        )
    if is_downgrade(access_url, access.url):
        raise SignallingError(
            f"access answer 'url' {shown} is plain text but the access endpoint is not: "
            "refusing the downgrade"
        )
    try:
        policy.check_url(access.url, what="access answer 'url'")
        policy.issue(access.token, access.url, what=f"access answer 'url' {shown}")
    except OriginRefused as exc:
        raise SignallingError(str(exc)) from None


def parse_access_answer(payload: bytes, *, default_token: str) -> Access:
    """The access answer as the device takes it: its ICE servers judged by aiortc's own
    parser, a bad entry dropped with a warning naming it (see :mod:`.access_answer`)."""
    return parse_answer(
        payload,
        default_token=default_token,
        ice_filter=lambda raw: usable_ice_servers(raw, source="access answer"),
    )


__all__ = ["URL_SCHEMES", "exchange_access", "parse_access_answer"]
