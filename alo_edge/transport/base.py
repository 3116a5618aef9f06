"""The transport contract: open a connection that publishes tracks, report when it dies.

The supervisor only sees this protocol, so it runs the same over WHIP, over Janus,
or over an in-memory transport in tests.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import aiohttp
from aiortc.mediastreams import MediaStreamTrack

from alo_edge.session.access import Access


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


class Connection(Protocol):
    """One live publishing session (one RTCPeerConnection)."""

    async def wait_lost(self) -> str:
        """Return, with the reason, once the link is dead (server gone, path dead, kicked)."""
        ...

    async def replace_tracks(self, tracks: PublishedTracks) -> None:
        """Send different tracks on the same connection (publish/unpublish, no renegotiation)."""
        ...

    async def close(self) -> None:
        """Leave the channel and release the peer connection; idempotent, never raises."""
        ...


class Transport(Protocol):
    """Opens connections to one kind of server (WHIP endpoint, Janus ...)."""

    async def open(
        self, access: Access, tracks: PublishedTracks, http: aiohttp.ClientSession
    ) -> Connection:
        """Publish ``tracks`` at ``access.url``; return once media flows.

        Raises AuthError (token refused), TransportError (retryable) or its
        SignallingError child (the server's answer was unusable).
        """
        ...
