"""WHIP (RFC 9725) publishing over aiohttp + aiortc.

One attempt = one fresh RTCPeerConnection: POST the offer (application/sdp, bearer
token), take the 201's Location and answer, wait until ICE and DTLS are up. On
close the session is DELETEd so the server frees it at once.

This module is the WHIP signalling only (POST, Location, Link headers, DELETE);
the peer connection, its RTCP liveness watch and track replacement are
:class:`~alo_edge.transport.peer.PublishingPeer`'s.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import urljoin

import aiohttp

from alo_edge.errors import SignallingError, TransportError
from alo_edge.media.passthrough import request_keyframe
from alo_edge.transport.base import Access, PublishedTracks, ReportTarget
from alo_edge.transport.http import (
    HTTP_TIMEOUT,
    MAX_SDP_BYTES,
    auth_error_for,
    bearer,
    map_transport_errors,
    read_limited,
    retry_after_seconds,
)
from alo_edge.transport.ice import shown_url, usable_ice_servers
from alo_edge.transport.peer import PublishingPeer
from alo_edge.transport.room import RoomListener
from alo_edge.transport.turn import IceAttempt, IcePlan

logger = logging.getLogger(__name__)

CONNECT_TIMEOUT = 10.0
#: A lab (alo-edge's or any server that wants them) names its state-report URL so.
EVENTS_REL = "urn:x-alo-edge:events"
DELETE_TIMEOUT = aiohttp.ClientTimeout(total=2)
_LINK_ICE_SERVER = re.compile(r"<([^>]+)>\s*;(.*?)(?:,(?=\s*<)|$)")


def parse_link_ice_servers(values: Sequence[str]) -> list[dict[str, Any]]:
    """ICE servers from ``Link: <stun:...>; rel="ice-server"`` headers (RFC 9725 section 4.6).

    Only those aiortc can use: another is dropped with a warning naming it (a server's
    header must never stop the device, nor fail every later attempt before its POST).
    """
    servers: list[dict[str, Any]] = []
    for value in values:
        for url, params in _LINK_ICE_SERVER.findall(value):
            attributes = dict(
                (name.strip().lower(), raw.strip().strip('"'))
                for name, _, raw in (p.partition("=") for p in params.split(";"))
                if name.strip()
            )
            if attributes.get("rel") != "ice-server":
                continue
            server: dict[str, Any] = {"urls": [url]}
            if "username" in attributes:
                server["username"] = attributes["username"]
            if "credential" in attributes:
                server["credential"] = attributes["credential"]
            servers.append(server)
    return usable_ice_servers(servers, source="WHIP Link")


class WhipTransport:
    """Publishes to a WHIP endpoint; remembers ICE servers the endpoint advertised.

    aiortc gathers all candidates before the offer is sent (no trickle ICE), so
    servers advertised in a 201's Link headers can only serve the next attempt. An
    attempt that fails before reaching the server forgets them: the server may have
    moved on, and they may be why the attempt failed.
    """

    def __init__(
        self,
        *,
        ice_servers: Sequence[dict[str, Any]] = (),
        liveness_timeout: float = 8.0,
        connect_timeout: float = CONNECT_TIMEOUT,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._configured_servers = list(ice_servers)
        self._link_servers: list[dict[str, Any]] = []
        self._ice = IcePlan()
        self._liveness_timeout = liveness_timeout
        self._connect_timeout = connect_timeout
        self._clock = clock

    async def open(
        self,
        access: Access,
        tracks: PublishedTracks,
        http: aiohttp.ClientSession,
        room: RoomListener,
    ) -> WhipConnection:
        """POST an offer for ``tracks`` to ``access.url`` and return once media flows.

        WHIP tells nothing about who else is in the channel: ``room`` hears nothing.
        """
        servers = list(access.ice_servers) or self._configured_servers or self._link_servers
        connection = WhipConnection(
            await self._ice.attempt(servers),
            http,
            access.token,
            self._liveness_timeout,
            self._clock,
        )
        reached: list[bool] = []  # set once the server answered the POST
        try:
            offer = await connection.create_offer(tracks, receive_talkback=True)
            answer = await self._post_offer(connection, access, offer, http, reached)
            await connection.apply_answer(answer, sender="WHIP endpoint")
            await connection.wait_connected(self._connect_timeout)
            # A passthrough source is mid-GOP: the new receiver must not wait for its IDR.
            request_keyframe(tracks.video)
        except BaseException:
            if not reached and self._link_servers:
                named = ", ".join(shown_url(u) for s in self._link_servers for u in s["urls"])
                logger.info(
                    "forgetting the ICE servers the WHIP endpoint named last time: %s", named
                )
                self._link_servers = []
            await connection.close()
            raise
        return connection

    async def _post_offer(
        self,
        connection: WhipConnection,
        access: Access,
        offer: str,
        http: aiohttp.ClientSession,
        reached: list[bool],
    ) -> str:
        headers = {"Content-Type": "application/sdp", **bearer(access.token)}
        with map_transport_errors(f"WHIP endpoint {access.url}"):
            async with http.post(
                access.url, data=offer.encode(), headers=headers, timeout=HTTP_TIMEOUT
            ) as response:
                reached.append(True)
                body = await read_limited(response, MAX_SDP_BYTES, what="WHIP answer")
                if response.status in (401, 403):
                    raise auth_error_for(response.status, body, what="WHIP endpoint")
                if response.status != 201:
                    raise TransportError(
                        f"WHIP endpoint answered HTTP {response.status}, expected 201",
                        retry_after=retry_after_seconds(response.headers),
                    )
                location = response.headers.get("Location")
                if not location:
                    raise SignallingError("WHIP endpoint's 201 has no Location header")
                # Set before any further check, so close() DELETEs what the server created.
                connection.resource_url = urljoin(str(response.url), location)
                content_type = response.headers.get("Content-Type", "")
                if content_type.split(";")[0].strip().lower() != "application/sdp":
                    raise SignallingError(
                        f"WHIP answer has Content-Type {content_type!r}, expected application/sdp"
                    )
                links = response.headers.getall("Link", [])
                if links:
                    self._link_servers = parse_link_ice_servers(links)
                    connection.events_url = link_target(links, EVENTS_REL, str(response.url))
        try:
            return body.decode("utf-8")
        except UnicodeDecodeError:
            raise SignallingError("WHIP answer is not UTF-8 text") from None


def link_target(values: Sequence[str], rel: str, base: str) -> str | None:
    """The absolute URL of the first ``Link`` whose ``rel`` is ``rel``, if any."""
    for value in values:
        for url, params in _LINK_ICE_SERVER.findall(value):
            rels = re.search(r'rel\s*=\s*"?([^";]+)"?', params)
            if rels and rel in rels.group(1).split():
                return urljoin(base, str(url))
    return None


class WhipConnection(PublishingPeer):
    """A published WHIP session: a :class:`PublishingPeer` whose resource is DELETEd on close."""

    def __init__(
        self,
        ice: IceAttempt,
        http: aiohttp.ClientSession,
        token: str,
        liveness_timeout: float,
        clock: Callable[[], float],
    ) -> None:
        super().__init__(ice, liveness_timeout, clock)
        self.resource_url: str | None = None
        #: Where the server takes the device's state reports (a ``Link`` in the answer).
        self.events_url: str | None = None
        self._http = http
        self._token = token
        self._close_task: asyncio.Task[None] | None = None

    @property
    def report_target(self) -> ReportTarget | None:
        """Where the device's state reports go, if the server named a URL."""
        return None if self.events_url is None else ReportTarget(self.events_url, self._token)

    async def close(self) -> None:
        """DELETE the WHIP resource and close the peer connection, once, even if cancelled."""
        if self._close_task is None:
            self._close_task = asyncio.ensure_future(self._close())
        await asyncio.shield(self._close_task)

    async def _close(self) -> None:
        if self.resource_url is not None:
            try:
                async with self._http.delete(
                    self.resource_url,
                    headers=bearer(self._token),
                    timeout=DELETE_TIMEOUT,
                ) as response:
                    if response.status >= 300 and response.status != 404:
                        logger.warning("WHIP DELETE answered HTTP %s", response.status)
            except (aiohttp.ClientError, TimeoutError) as exc:
                # The server may be the thing that died; it will time the session out.
                logger.info("WHIP DELETE not delivered: %s", exc or type(exc).__name__)
        await super().close()
