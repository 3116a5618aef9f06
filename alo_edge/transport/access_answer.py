"""The access endpoint's answer, validated field by field: no HTTP, no WebRTC here.

The device's access step (:mod:`.access`) and ``alo-edge check`` read the same answer
the same way, and the check must not load aiohttp or aiortc to do it. Everything in
the answer came over the network, so every problem is a SignallingError naming the
field (retryable: only the local config may stop the service).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

from alo_edge.errors import SignallingError
from alo_edge.transport.base import Access
from alo_edge.urls import origin_of

logger = logging.getLogger(__name__)

#: Turns the answer's raw ``iceServers`` into the entries the device may use: the device
#: passes aiortc's own judgement (:func:`alo_edge.transport.ice.usable_ice_servers`);
#: without one, only the shape is kept (``alo-edge check`` must not load aiortc).
IceFilter = Callable[[object], list[dict[str, Any]]]


def dict_entries(raw: object) -> list[dict[str, Any]]:
    """The entries of a list that are JSON objects; a bad entry costs that entry only."""
    if not isinstance(raw, list):
        logger.warning("access answer: ICE servers dropped: 'iceServers' is not a list")
        return []
    return [entry for entry in raw if isinstance(entry, dict)]


#: The transports an access answer may name, and the URL schemes each one takes.
URL_SCHEMES: dict[str, tuple[str, ...]] = {
    "whip": ("http://", "https://"),
    "janus": ("ws://", "wss://"),
}


def parse_answer(
    payload: bytes, *, default_token: str, ice_filter: IceFilter = dict_entries
) -> Access:
    """Validate the access endpoint's JSON; every problem names the field.

    A bad ICE server entry costs that entry (``ice_filter`` warns, naming it), never the
    attempt.
    """
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
    servers = ice_filter(answer.get("iceServers", []))
    return Access(transport, url, token, tuple(servers), room)


def _shown(value: Any) -> str:
    """A value from the answer as an error may show it: its repr, cut short."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
