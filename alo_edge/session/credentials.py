"""Credentials as a seam: where the session gets the bearer for each attempt.

The session asks a :class:`Credentials` for the current bearer at the start of every
attempt (ACQUIRING_ACCESS) and tells it when a server answered 401 to it. Two kinds:

- :class:`TokenFileCredentials`: the token file or the systemd credential ``alo-token``,
  read afresh on every attempt, so a token rotated on disk heals a refused device; an
  expired JWT is reported, never sent.
- ``ClientCredentials`` (:mod:`.client_credentials`): short-lived tokens fetched with the
  OAuth 2.0 client-credentials grant and renewed in the background before they expire.

Each reports a :class:`CredentialState` (where the token comes from, when it expires,
how renewal goes) for ``/status`` and ``/metrics``; never the token itself.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from alo_edge.bearer import jwt_expiry
from alo_edge.session.access import check_not_expired, read_token
from alo_edge.session.clock import Clock

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class CredentialState:
    """What can be told about the bearer without telling it (``/status`` ``token``)."""

    #: ``file`` (alo.token_file or the credential alo-token) or ``client_credentials``.
    source: str
    #: Epoch seconds the current token expires; None when unknown (opaque, or none yet).
    expires_at: float | None = None
    #: Epoch seconds the current token was obtained (client credentials only).
    obtained_at: float | None = None
    #: Epoch seconds the next renewal is due (client credentials only).
    renew_at: float | None = None
    #: Tokens obtained from the endpoint so far.
    renewals: int = 0
    #: Consecutive failed fetches (0 after a success), and the last failure's message.
    failures: int = 0
    last_error: str | None = None
    last_error_at: float | None = None


class Credentials(Protocol):
    """Where the session gets its bearer; started with the session, stopped with it."""

    async def start(self) -> None:
        """Start what keeps the credential fresh (a renewal task), if anything does."""
        ...

    async def stop(self) -> None:
        """Stop every task :meth:`start` started; idempotent."""
        ...

    async def bearer(self) -> str:
        """The bearer for one attempt, never an expired one.

        Raises AuthError (missing, expired, refused credentials) or TransportError (the
        token endpoint failed); both are retryable.
        """
        ...

    async def refused(self, token: str) -> bool:
        """A server answered 401 to ``token``: True when a different token is ready now."""
        ...

    def state(self) -> CredentialState:
        """The credential's state for ``/status`` (never the token)."""
        ...


class TokenFileCredentials:
    """The token from a file, read on every attempt: today's simple setups.

    ``read`` returns the token (``read_token(token_path(config))`` in the service); any
    callable will do, so a library user can hand a token from anywhere.
    """

    def __init__(self, read: Callable[[], str], clock: Clock, *, source: str = "file") -> None:
        self._read = read
        self._clock = clock
        self._source = source
        self._expires_at: float | None = None

    @classmethod
    def from_path(cls, path: Callable[[], Path], clock: Clock) -> TokenFileCredentials:
        """Read the file at ``path()`` on each attempt (where it is may change on SIGHUP)."""
        return cls(lambda: read_token(path()), clock)

    async def start(self) -> None:
        """Nothing renews a file: a person or a provisioning tool replaces it."""

    async def stop(self) -> None:
        """Nothing to stop."""

    async def bearer(self) -> str:
        token = self._read()
        self._expires_at = jwt_expiry(token)
        check_not_expired(token, self._clock.wall())
        return token

    async def refused(self, token: str) -> bool:
        # A file replaced since the attempt began holds another token: try it at once.
        try:
            return self._read() != token
        except Exception:
            return False

    def state(self) -> CredentialState:
        return CredentialState(self._source, expires_at=self._expires_at)
