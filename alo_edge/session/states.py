"""Connection states and the transitions allowed between them (pure data).

The values are ALO's own strings, since users match on them in events and logs.
"""

from __future__ import annotations

from enum import StrEnum


class ConnectionState(StrEnum):
    """The SDK's connection states, spelled as ALO spells them."""

    NOT_CONNECTED = "NOT_CONNECTED"
    ACQUIRING_ACCESS = "ACQUIRING_ACCESS"
    CONNECTING = "CONNECTING"
    CONNECTED = "CONNECTED"
    DISCONNECTED = "DISCONNECTED"
    ERROR = "ERROR"
    RECONNECT_PENDING = "RECONNECT_PENDING"


S = ConnectionState

#: state -> states it may move to. RECONNECT_PENDING may follow itself: the countdown
#: is re-emitted every second with a new ``pendingRestartSeconds``.
TRANSITIONS: dict[ConnectionState, frozenset[ConnectionState]] = {
    S.NOT_CONNECTED: frozenset({S.ACQUIRING_ACCESS, S.DISCONNECTED}),
    S.ACQUIRING_ACCESS: frozenset({S.CONNECTING, S.ERROR, S.DISCONNECTED}),
    S.CONNECTING: frozenset({S.CONNECTED, S.ERROR, S.DISCONNECTED}),
    # CONNECTED -> RECONNECT_PENDING: a reconnect a person asked for, not a failure.
    S.CONNECTED: frozenset({S.ERROR, S.RECONNECT_PENDING, S.DISCONNECTED}),
    S.ERROR: frozenset({S.RECONNECT_PENDING, S.DISCONNECTED}),
    S.RECONNECT_PENDING: frozenset({S.RECONNECT_PENDING, S.ACQUIRING_ACCESS, S.DISCONNECTED}),
    S.DISCONNECTED: frozenset({S.ACQUIRING_ACCESS}),
}

#: What a person reads for each state (``stateMessage`` in events, STATUS= for systemd).
STATE_MESSAGES: dict[ConnectionState, str] = {
    S.NOT_CONNECTED: "not connected",
    S.ACQUIRING_ACCESS: "acquiring access",
    S.CONNECTING: "connecting",
    S.CONNECTED: "connected",
    S.DISCONNECTED: "disconnected",
    S.ERROR: "error",
    S.RECONNECT_PENDING: "reconnecting",
}


def is_allowed(old: ConnectionState, new: ConnectionState) -> bool:
    """True when the session may move from ``old`` to ``new``."""
    return new in TRANSITIONS[old]
