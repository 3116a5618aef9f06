"""The one exception tree of alo-edge, and the process exit codes it maps to.

Every error the service raises on purpose is an :class:`AloEdgeError`. Whether
the supervisor tries again is decided by the class, never by parsing a message::

    AloEdgeError
    ├── ConfigError          fatal: the service cannot start (exit 78)
    ├── HardwareError        fatal at start: a driver library or the GPIO is missing (exit 69)
    │   └── DeviceMissingError  retryable: a capture device cannot be opened (yet)
    ├── AuthError            retryable at the cap: the token is missing, expired or refused
    │   └── TokenRejectedError  a server answered 401: a freshly fetched token may pass
    └── TransportError       retryable: the server or the network failed
        ├── SignallingError  retryable: the server answered something we cannot use
        └── ConflictError    retryable: the server still holds an earlier session of ours

``retryable`` on each class states the policy so callers need no isinstance ladder;
``retry_after`` carries a server's wish (seconds) where one was given; ``exit_code``
is what the process exits with when the error ends it; ``kind`` names the failure in
one word of :data:`ERROR_KINDS` (a bounded metric label: the message is unbounded).
Leaves also inherit the matching builtin where one exists, so callers can catch either.
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    """The process's exit codes (sysexits), as systemd's RestartPreventExitStatus reads them."""

    OK = 0
    FAILURE = 1
    #: argparse's own code for a command line it cannot parse.
    USAGE = 2
    #: EX_UNAVAILABLE: at start, a driver library (picamera2) or the GPIO cannot be used.
    HARDWARE = 69
    #: EX_TEMPFAIL: a person asked for a restart from the panel; systemd's Restart= restarts us.
    RESTART = 75
    #: EX_CONFIG: the local configuration is invalid; restarting will not heal it.
    CONFIG = 78


#: Every ``AloEdgeError.kind``: a fixed set, so a metric labelled with it stays bounded.
ERROR_KINDS = ("config", "hardware", "auth", "network", "server", "other")


class AloEdgeError(Exception):
    """Base of every error alo-edge raises on purpose."""

    retryable: bool = False
    exit_code: ExitCode = ExitCode.FAILURE
    #: What failed, as one word of ERROR_KINDS (subclasses inherit their parent's).
    kind: str = "other"
    #: Seconds a server asked us to wait (``Retry-After``); None when it said nothing.
    retry_after: float | None = None


class ConfigError(AloEdgeError, ValueError):
    """The configuration is invalid; the message names the key path and what was expected."""

    exit_code = ExitCode.CONFIG
    kind = "config"

    def __init__(self, message: str, *, key: str | None = None) -> None:
        super().__init__(f"{key}: {message}" if key else message)
        self.key = key


class HardwareError(AloEdgeError, OSError):
    """A capture or panel device, or its driver library, is missing or refuses to open."""

    exit_code = ExitCode.HARDWARE
    kind = "hardware"


class DeviceMissingError(HardwareError):
    """A configured capture device cannot be opened now: not plugged in, not enumerated yet.

    Retryable: a USB camera that enumerates late or a loose ribbon cable heals without a
    visit, so the session waits for the device with the reconnect backoff while the
    process stays up (an exit would only burn systemd's start limit).
    """

    retryable = True


class AuthError(AloEdgeError):
    """The token is missing, unreadable, expired or refused by the server.

    Retryable, but only at the backoff cap: the device keeps re-reading the token,
    so a rotated token heals it without anyone touching it.
    """

    retryable = True
    kind = "auth"


class TokenRejectedError(AuthError):
    """A server answered HTTP 401 to the bearer: the token itself was refused.

    A renewable credential (``alo.token_url``) fetches a fresh token at once and the
    next attempt follows without the cap wait, once; a 403 (access denied) is not this.
    """


class TransportError(AloEdgeError, ConnectionError):
    """The server or the network failed; the supervisor reconnects with backoff.

    ``retry_after`` carries a server's ``Retry-After`` (seconds), which the backoff honours.
    """

    retryable = True
    kind = "network"

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class SignallingError(TransportError):
    """The server answered, but with something unusable (bad status, malformed SDP, bad JSON)."""

    kind = "server"


class ConflictError(TransportError):
    """The server still holds an earlier session of this device (HTTP 409, or 403 "in use").

    Not an auth failure: the token is fine, the old session is in the way (its DELETE
    was lost). Retried at the normal pace; the undelivered DELETE goes first.
    """

    kind = "server"
