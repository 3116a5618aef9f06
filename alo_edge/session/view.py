"""What a part living beside a session may see of it and do to it: one protocol for all.

The panel, the watchdog, source health, the status endpoint, state reports, the
network watcher and the talk-back speaker each take a :class:`SessionView` (an
``AloVideo`` is one) and nothing else, so none of them imports the SDK face and
each can be tested against a small fake. :class:`SessionComponent` is how the
composition root (``app.py``) starts and stops them, in order and in reverse.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol

from alo_edge.errors import AloEdgeError
from alo_edge.events import EventTarget

if TYPE_CHECKING:
    # Types only: a component that merely reads the state (the panel, `alo-edge check`)
    # must not pay for importing aiortc.
    from alo_edge.media.base import MediaSource
    from alo_edge.media.talkback import TalkbackPlayer
    from alo_edge.transport.base import Connection


class SessionView(Protocol):
    """One device session as its side components see it (``AloVideo`` implements it)."""

    @property
    def events(self) -> EventTarget:
        """The SDK events (``onConnectionChange`` ...); components listen and may dispatch."""
        ...

    @property
    def connection_state(self) -> str:
        """One of ALO's ``CONNECTION_STATUS_*`` values."""
        ...

    @property
    def last_error(self) -> AloEdgeError | None:
        """Why the last attempt failed; None once connected again."""
        ...

    @property
    def connected_at(self) -> float | None:
        """``time.monotonic()`` when the session last became CONNECTED."""
        ...

    @property
    def connection(self) -> Connection | None:
        """The live connection while CONNECTED, else None."""
        ...

    @property
    def media_sources(self) -> Sequence[MediaSource]:
        """Every capture source of the session (camera, microphone)."""
        ...

    @property
    def published_sources(self) -> Sequence[MediaSource]:
        """The sources whose tracks are being sent now."""
        ...

    @property
    def muted(self) -> bool:
        """True while the microphone sends silence."""
        ...

    @property
    def talkback(self) -> TalkbackPlayer | None:
        """The talk-back player, None when the device has no speaker."""
        ...

    async def set_muted(self, muted: bool) -> None:
        """Mute or unmute the microphone."""
        ...

    def reconnect_now(self) -> None:
        """Skip a pending backoff wait, or replace a live connection."""
        ...

    def report_device_change(self, warning: str | None = None) -> None:
        """Fire ``onDeviceListUpdate`` (with ``warning`` when a device misbehaved)."""
        ...


class SessionComponent(Protocol):
    """A part that lives beside a session: started after it is built, stopped before it ends."""

    async def start(self, session: SessionView) -> None:
        """Attach to ``session`` (listen to its events, start owned tasks)."""
        ...

    async def stop(self) -> None:
        """Detach and end every task started by :meth:`start`."""
        ...
