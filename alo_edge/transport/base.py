"""The transport contract: open a connection that publishes tracks, report when it dies.

The supervisor only sees these protocols, so it runs the same over WHIP, over Janus,
or over an in-memory transport in tests. :class:`Access` is a transport's input:
where to publish, with which bearer and ICE servers (the session's access step
produces it; nothing here knows how).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    # Types only: `alo-edge check` validates an access answer into an Access without
    # paying for aiohttp and aiortc.
    import aiohttp
    from aiortc.mediastreams import MediaStreamTrack

    from alo_edge.transport.room import RoomListener


@dataclass(frozen=True)
class Access:
    """What one connection attempt needs: where to publish, with which bearer and ICE servers."""

    transport: str
    url: str
    token: str = field(repr=False)
    ice_servers: tuple[dict[str, Any], ...] = ()
    #: Janus: the VideoRoom the access answer named (None: ``alo.room`` or the channel).
    room: int | None = None


@dataclass(frozen=True)
class PublishedTracks:
    """The tracks a connection carries; None for a kind that is offered but not sent now."""

    video: MediaStreamTrack | None = None
    audio: MediaStreamTrack | None = None
    offer_video: bool = True
    offer_audio: bool = True
    #: Talk-back: when set, audio is offered sendrecv and the server's audio track is
    #: handed to this callback once the answer is applied (once per connection).
    on_remote_audio: Callable[[MediaStreamTrack], None] | None = None


@dataclass(frozen=True)
class OutboundStats:
    """What one sender has sent on the current connection (from aiortc's getStats)."""

    kind: str
    packets_sent: int
    bytes_sent: int
    #: Seconds, from the far end's last RTCP receiver report; None before the first one.
    round_trip_time: float | None


@dataclass(frozen=True)
class ReportTarget:
    """Where the server asked for the device's state reports, and the bearer it expects."""

    url: str
    token: str = field(repr=False)


class Connection(Protocol):
    """One live publishing session (one RTCPeerConnection)."""

    async def wait_lost(self) -> str:
        """Return, with the reason, once the link is dead (server gone, path dead, kicked)."""
        ...

    async def replace_tracks(self, tracks: PublishedTracks) -> None:
        """Send different tracks on the same connection (publish/unpublish, no renegotiation)."""
        ...

    async def outbound_stats(self) -> list[OutboundStats]:
        """What each sending track has sent so far (the status endpoint samples it)."""
        ...

    @property
    def report_target(self) -> ReportTarget | None:
        """Where this server takes state reports (a WHIP ``Link``), None when it takes none."""
        ...

    async def close(self) -> None:
        """Leave the channel and release the peer connection; idempotent, never raises."""
        ...


class Transport(Protocol):
    """Opens connections to one kind of server (WHIP endpoint, Janus ...)."""

    async def open(
        self,
        access: Access,
        tracks: PublishedTracks,
        http: aiohttp.ClientSession,
        room: RoomListener,
    ) -> Connection:
        """Publish ``tracks`` at ``access.url``; return once media flows.

        ``room`` hears who else is in the channel (a room transport like Janus reports
        participants and talk-back voices there; WHIP learns nothing about others).
        Raises AuthError (token refused), TransportError (retryable) or its
        SignallingError child (the server's answer was unusable).
        """
        ...
