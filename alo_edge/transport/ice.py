"""ICE settings: which servers and which local addresses WebRTC may use.

aiortc falls back to a public Google STUN server when no ICE servers are given, and
aioice never offers 127.0.0.1 as a host candidate. Both are wrong for a device that
must only talk to the servers it was configured for, and for tests that must stay
on loopback, so every peer connection in alo-edge is built from here.
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Iterable, Sequence
from typing import Any

import aioice.ice
from aiortc import RTCConfiguration, RTCIceServer

from alo_edge.config.rules import ice_server_fields
from alo_edge.errors import ConfigError

logger = logging.getLogger(__name__)

_original_get_host_addresses = aioice.ice.get_host_addresses
_pinned: tuple[str, ...] = ()


def _pinned_host_addresses(use_ipv4: bool, use_ipv6: bool) -> list[str]:
    return [
        address
        for address in _pinned
        if (use_ipv4 and ipaddress.ip_address(address).version == 4)
        or (use_ipv6 and ipaddress.ip_address(address).version == 6)
    ]


def pin_host_addresses(addresses: Sequence[str]) -> None:
    """Offer only ``addresses`` as host candidates (empty: aioice's own choice).

    aioice has no per-connection setting for this, so the policy is process-wide;
    a device publishes from one network identity, which makes that acceptable.
    """
    global _pinned
    for address in addresses:
        try:
            ipaddress.ip_address(address)
        except ValueError:
            raise ConfigError(
                f"expected IP addresses, got {address!r}", key="network.host_addresses"
            ) from None
    _pinned = tuple(addresses)
    if _pinned:
        aioice.ice.get_host_addresses = _pinned_host_addresses
        logger.debug("host candidates pinned to %s", ", ".join(_pinned))
    else:
        aioice.ice.get_host_addresses = _original_get_host_addresses


def ice_server_from_dict(entry: dict[str, Any], *, where: str) -> RTCIceServer:
    """Build an RTCIceServer from a WebRTC-style dict ``{"urls", "username", "credential"}``."""
    urls, username, credential = ice_server_fields(entry, where=where)
    return RTCIceServer(urls=urls, username=username, credential=credential)


def rtc_configuration(servers: Iterable[RTCIceServer]) -> RTCConfiguration:
    """An RTCConfiguration with exactly ``servers``: an empty list means none, never Google's."""
    return RTCConfiguration(iceServers=list(servers))


def rtc_configuration_from_dicts(servers: Iterable[dict[str, Any]]) -> RTCConfiguration:
    """An RTCConfiguration from WebRTC-style dicts; a bad one is named ``iceServers[i]``."""
    return rtc_configuration(
        ice_server_from_dict(s, where=f"iceServers[{i}]") for i, s in enumerate(servers)
    )
