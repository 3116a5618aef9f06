"""WHIP (RFC 9725) publishing over aiohttp + aiortc.

One attempt = one fresh RTCPeerConnection: POST the offer (application/sdp, bearer
token), take the 201's Location and answer, wait until ICE and DTLS are up. On
close the session is DELETEd so the server frees it at once.

This module is the WHIP signalling only (POST, Location, Link headers, DELETE);
the peer connection, its RTCP liveness watch and track replacement are
:class:`~alo_edge.transport.peer.PublishingPeer`'s. A DELETE that does not reach the
server is kept and sent again before the next POST
(:mod:`~alo_edge.transport.whip_cleanup`). A ``Location`` or ``Link`` on another
origin than the endpoint is not used (:mod:`~alo_edge.transport.origin`).
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
    bearer,
    map_transport_errors,
    read_limited,
    refusal_for,
)
from alo_edge.transport.ice import shown_url, usable_ice_servers
from alo_edge.transport.origin import target_allowed
from alo_edge.transport.peer import PublishingPeer
from alo_edge.transport.room import RoomListener
from alo_edge.transport.turn import IceAttempt, IcePlan
from alo_edge.transport.whip_cleanup import DeleteOutcome, PendingDeletes, delete_resource
from alo_edge.urls import mask_url

logger = logging.getLogger(__name__)

CONNECT_TIMEOUT = 10.0
#: A lab (alo-edge's or any server that wants them) names its state-report URL so.
EVENTS_REL = "urn:x-alo-edge:events"
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
        #: Sessions whose DELETE was lost: DELETEd again before the next POST.
        self.pending_deletes = PendingDeletes(clock=clock)

    async def open(
        self,
        access: Access,
        tracks: PublishedTracks,
        http: aiohttp.ClientSession,
        room: RoomListener,
    ) -> WhipConnection:
        """POST an offer for ``tracks`` to ``access.url`` and return once media flows.

        WHIP tells nothing about who else is in the channel: ``room`` hears nothing.
        Sessions left behind by a lost DELETE are DELETEd first, so a server that
        allows one session per endpoint takes this one.
        """
        await self.pending_deletes.flush(http, endpoint=access.url, token=access.token)
        servers = list(access.ice_servers) or self._configured_servers or self._link_servers
        connection = WhipConnection(
            await self._ice.attempt(servers),
            http,
            access.token,
            self._liveness_timeout,
            self._clock,
            on_undelivered=self.pending_deletes.add,
        )
        reached: list[bool] = []  # set once the server answered the POST
        try:
            offer = await connection.create_offer(tracks, receive_talkback=True)
            answer = await self._post_offer(connection, access, offer, http, reached)
            await connection.apply_answer(answer, sender="WHIP endpoint")
            try:
                await connection.wait_connected(self._connect_timeout)
            except TransportError:
                # Replaced before its media came up (the other device reconnects at once)?
                taken_by = await connection.ask_why_ended()
                if taken_by is not None:
                    raise TransportError(taken_by) from None
                raise
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
        with map_transport_errors(f"WHIP endpoint {mask_url(access.url)}"):
            async with http.post(
                access.url, data=offer.encode(), headers=headers, timeout=HTTP_TIMEOUT
            ) as response:
                reached.append(True)
                body = await read_limited(response, MAX_SDP_BYTES, what="WHIP answer")
                if response.status != 201:
                    raise refusal_for(
                        response.status,
                        body,
                        response.headers,
                        what="WHIP endpoint",
                        expected=201,
                        secrets=(access.token,),
                    )
                location = response.headers.get("Location")
                if not location:
                    raise SignallingError("WHIP endpoint's 201 has no Location header")
                # Redirects are followed on the endpoint's own origin only (the origin
                # policy), so the answer's URL is the base a relative Location means.
                resource = resolve(str(response.url), location)
                if resource is None:
                    raise SignallingError(
                        f"WHIP endpoint's Location {mask_url(location)!r} is not a URL"
                    )
                if target_allowed(resource, access.url, what="WHIP Location"):
                    # Set before any further check, so close() DELETEs what the server made.
                    connection.resource_url = resource
                content_type = response.headers.get("Content-Type", "")
                if content_type.split(";")[0].strip().lower() != "application/sdp":
                    raise SignallingError(
                        f"WHIP answer has Content-Type {content_type!r}, expected application/sdp"
                    )
                links = response.headers.getall("Link", [])
                if links:
                    self._link_servers = parse_link_ice_servers(links)
                    events = link_target(links, EVENTS_REL, str(response.url))
                    if events is not None and target_allowed(
                        events, access.url, what="WHIP Link (state reports)"
                    ):
                        connection.events_url = events
        try:
            return body.decode("utf-8")
        except UnicodeDecodeError:
            raise SignallingError("WHIP answer is not UTF-8 text") from None


def resolve(base: str, reference: str) -> str | None:
    """``reference`` (absolute or relative, as in a Location) against ``base``; None if junk."""
    try:
        return urljoin(base, reference.strip())
    except ValueError:  # "http://[bad" and the like
        return None


def link_target(values: Sequence[str], rel: str, base: str) -> str | None:
    """The absolute URL of the first ``Link`` whose ``rel`` is ``rel``, if any."""
    for value in values:
        for url, params in _LINK_ICE_SERVER.findall(value):
            rels = re.search(r'rel\s*=\s*"?([^";]+)"?', params)
            if rels and rel in rels.group(1).split():
                return resolve(base, str(url))
    return None


class WhipConnection(PublishingPeer):
    """A published WHIP session: a :class:`PublishingPeer` whose resource is DELETEd on close.

    A DELETE that does not reach the server goes to ``on_undelivered(url, token)``
    (the transport keeps it and sends it again before its next POST).
    """

    def __init__(
        self,
        ice: IceAttempt,
        http: aiohttp.ClientSession,
        token: str,
        liveness_timeout: float,
        clock: Callable[[], float],
        *,
        on_undelivered: Callable[[str, str], None] | None = None,
    ) -> None:
        super().__init__(ice, liveness_timeout, clock)
        self.resource_url: str | None = None
        #: Where the server takes the device's state reports (a ``Link`` in the answer).
        self.events_url: str | None = None
        self._http = http
        self._token = token
        self._on_undelivered = on_undelivered
        self._close_task: asyncio.Task[None] | None = None

    @property
    def report_target(self) -> ReportTarget | None:
        """Where the device's state reports go, if the server named a URL."""
        return None if self.events_url is None else ReportTarget(self.events_url, self._token)

    async def wait_lost(self) -> str:
        """The reason the session ended; when the server closed it, the server's own reason.

        WHIP has no way for a server to say why it ended a session, so the device asks
        where it can: it DELETEs the resource at once (it would on close anyway), and a
        server that replaced the session with another publisher's says so in the answer
        (the lab: 410 naming the user who took over). Nobody else is asked, so the
        device says "another device ... took this session" only when a server said it.
        """
        reason = await super().wait_lost()
        if self.connection_state == "closed":
            taken_by = await self.ask_why_ended()
            if taken_by is not None:
                return taken_by
        return reason

    async def ask_why_ended(self) -> str | None:
        """DELETE the resource now; "another device ... took this session" when the answer
        says another publisher replaced it, else None (then close() DELETEs nothing more)."""
        return await self._delete_resource()

    async def close(self) -> None:
        """DELETE the WHIP resource and close the peer connection, once, even if cancelled."""
        if self._close_task is None:
            self._close_task = asyncio.ensure_future(self._close())
        await asyncio.shield(self._close_task)

    async def _close(self) -> None:
        await self._delete_resource()
        await super().close()

    async def _delete_resource(self) -> str | None:
        """DELETE the resource (once); the takeover message when the answer carries one.

        A DELETE that does not get through goes to ``on_undelivered``, to be sent again
        before the next POST.
        """
        url, self.resource_url = self.resource_url, None
        if url is None:
            return None
        result = await delete_resource(self._http, url, self._token)
        if result.outcome is DeleteOutcome.RETRY and self._on_undelivered is not None:
            self._on_undelivered(url, self._token)
        return result.taken_by
