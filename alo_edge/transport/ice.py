"""ICE settings: which servers and which local addresses WebRTC may use.

aiortc falls back to a public Google STUN server when no ICE servers are given, and
aioice never offers 127.0.0.1 as a host candidate. Both are wrong for a device that
must only talk to the servers it was configured for, and for tests that must stay
on loopback, so every peer connection in alo-edge is built from here.

ICE server URLs are judged by aiortc's own parser (``aiortc.rtcicetransport``'s
``parse_stun_turn_uri``, what its ICE gatherer runs on every entry when a peer
connection is built) plus the entries its ``connection_kwargs`` would skip without a
word (``stuns:``, a ``turn:`` transport other than udp/tcp, ``turns:`` over udp). An
entry from the local config that fails is a ConfigError at start; one that came over
the network (an access answer, a WHIP ``Link``) is dropped with a warning naming it:
a server's bad answer must never stop the device nor fail every later attempt.
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Iterable, Sequence
from typing import Any

import aioice.ice
from aiortc import RTCConfiguration, RTCIceServer
from aiortc.rtcicetransport import parse_stun_turn_uri

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


def ice_url_problem(url: str) -> str | None:
    """Why aiortc cannot use ICE server ``url`` (None: it can), in aiortc's own terms."""
    if not url.startswith(("stun:", "stuns:", "turn:", "turns:")):
        return "no stun:, turn: or turns: scheme"
    try:
        parsed = parse_stun_turn_uri(url)
    except ValueError as exc:
        return str(exc)
    scheme, transport = parsed["scheme"], parsed.get("transport")
    if scheme == "stuns":
        return "aioice does not speak STUN over TLS (stuns:)"
    if scheme == "turn" and transport not in ("udp", "tcp"):
        return f"TURN transport {transport!r} is not udp or tcp"
    if scheme == "turns" and transport != "tcp":
        return f"TURN over TLS runs over tcp, not {transport!r}"
    return None


def shown_url(url: object) -> str:
    """An ICE URL as a log line may show it: quoted, bounded (never a credential)."""
    text = repr(url)
    return text if len(text) <= 120 else text[:117] + "..."


def usable_ice_servers(entries: object, *, source: str) -> list[dict[str, Any]]:
    """The WebRTC-style ``{"urls", "username", "credential"}`` entries aiortc can use.

    For entries that came over the network: each unusable URL (or malformed entry) is
    dropped with a warning naming it and ``source``; nothing raises. Credentials are
    never part of a warning.
    """
    if not isinstance(entries, list | tuple):
        logger.warning(
            "%s: ICE servers dropped: expected a list, got %s", source, type(entries).__name__
        )
        return []
    usable: list[dict[str, Any]] = []
    for index, entry in enumerate(entries):
        where = f"{source} iceServers[{index}]"
        if not isinstance(entry, dict):
            logger.warning("%s dropped: expected an object", where)
            continue
        raw_urls = entry.get("urls")
        listed = [raw_urls] if isinstance(raw_urls, str) else raw_urls
        if not isinstance(listed, list) or not listed:
            logger.warning("%s dropped: 'urls' is not a URL or a list of URLs", where)
            continue
        username, credential = entry.get("username"), entry.get("credential")
        if not isinstance(username, str | None) or not isinstance(credential, str | None):
            logger.warning("%s dropped: 'username' and 'credential' must be strings", where)
            continue
        urls = []
        for url in listed:
            problem = ice_url_problem(url) if isinstance(url, str) else "not a string"
            if problem:
                logger.warning("%s: ICE server %s dropped: %s", where, shown_url(url), problem)
            else:
                urls.append(url)
        if urls:
            server: dict[str, Any] = {"urls": urls}
            if username is not None:
                server["username"] = username
            if credential is not None:
                server["credential"] = credential
            usable.append(server)
    return usable


def check_configured_ice_servers(servers: Sequence[dict[str, Any]]) -> None:
    """``alo.ice_servers`` from the local config: a URL aiortc cannot use is a ConfigError."""
    for i, server in enumerate(servers):
        for url in server["urls"]:
            problem = ice_url_problem(url)
            if problem:
                raise ConfigError(f"{url!r}: {problem}", key=f"alo.ice_servers[{i}].urls")


def ice_server(entry: dict[str, Any]) -> RTCIceServer:
    """An RTCIceServer from a validated ``{"urls", "username", "credential"}`` entry."""
    return RTCIceServer(
        urls=list(entry["urls"]), username=entry.get("username"), credential=entry.get("credential")
    )


def rtc_configuration(servers: Iterable[RTCIceServer]) -> RTCConfiguration:
    """An RTCConfiguration with exactly ``servers``: an empty list means none, never Google's."""
    return RTCConfiguration(iceServers=list(servers))


def rtc_configuration_from_dicts(servers: Iterable[dict[str, Any]]) -> RTCConfiguration:
    """An RTCConfiguration from validated WebRTC-style dicts (see :func:`usable_ice_servers`)."""
    return rtc_configuration(ice_server(s) for s in servers)
