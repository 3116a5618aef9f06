"""The access endpoint's answer, validated field by field: no HTTP, no WebRTC here.

The device's access step (:mod:`.access`) and ``alo-edge check`` read the same answer
the same way, and the check must not load aiohttp or aiortc to do it. Everything in
the answer came over the network, so every problem is a SignallingError naming the
field (retryable: only the local config may stop the service).
"""

from __future__ import annotations

import json
from typing import Any

from alo_edge.config.rules import ice_server_fields
from alo_edge.errors import ConfigError, SignallingError
from alo_edge.transport.base import Access
from alo_edge.urls import origin_of

#: The transports an access answer may name, and the URL schemes each one takes.
URL_SCHEMES: dict[str, tuple[str, ...]] = {
    "whip": ("http://", "https://"),
    "janus": ("ws://", "wss://"),
}


def parse_access_answer(payload: bytes, *, default_token: str) -> Access:
    """Validate the access endpoint's JSON; every problem names the field."""
    try:
        answer = json.loads(payload)
    except (ValueError, UnicodeDecodeError):
        raise SignallingError("access answer is not JSON") from None
    except RecursionError:
        raise SignallingError("access answer is JSON nested too deeply") from None
    if not isinstance(answer, dict):
        raise SignallingError("access answer is not a JSON object")
    transport = answer.get("transport")
    if not isinstance(transport, str) or transport not in URL_SCHEMES:
        raise SignallingError(
            f"access answer 'transport' is {_shown(transport)}; this device speaks 'whip' or "
            "'janus'"
        )
    url = answer.get("url")
    schemes = URL_SCHEMES[transport]
    if not isinstance(url, str) or not url.startswith(schemes) or origin_of(url) is None:
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
            ice_server_fields(server, where=f"iceServers[{i}]")
        except ConfigError as exc:
            raise SignallingError(f"access answer {exc}") from None
    return Access(transport, url, token, tuple(servers), room)


def _shown(value: Any) -> str:
    """A value from the answer as an error may show it: its repr, cut short."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
