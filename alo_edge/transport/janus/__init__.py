"""Janus VideoRoom publishing over the Janus WebSocket API, with participants and talk-back.

ALO's video service runs on the Janus WebRTC server. The package is split by job:
:mod:`.session` (the WebSocket, transactions, keep-alives), :mod:`.room` (the room
model, pure), :mod:`.talkback` (subscriptions to remote voices) and
:mod:`.connection` (the device in the room, and the :class:`JanusTransport`).
"""

from __future__ import annotations

from alo_edge.transport.janus.connection import JanusConnection, JanusTransport
from alo_edge.transport.janus.session import (
    MAX_MESSAGE_BYTES,
    JanusError,
    JanusHandle,
    JanusSession,
)

__all__ = [
    "MAX_MESSAGE_BYTES",
    "JanusConnection",
    "JanusError",
    "JanusHandle",
    "JanusSession",
    "JanusTransport",
]
