"""When to renew a short-lived token (pure: time and randomness come in as arguments).

A token obtained at ``obtained_at`` living until ``expires_at`` is renewed once 20 % of
its lifetime is left, so a reconnect always finds a token with time to spare. A failed
renewal is retried as a failed connection attempt is (the same :class:`ReconnectPolicy`:
at once, then growing to the cap, a refusal at the cap, a server's Retry-After honoured).
When expiry is near (10 % of the lifetime left, or past) and renewal has failed more than
once, the source warns: a person may need to look at the token endpoint.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from alo_edge.session.backoff import ReconnectPolicy

#: Renew when this share of the token's lifetime is left.
RENEW_WHEN_LEFT = 0.2
#: Warn when this share is left (or less) and renewal keeps failing.
WARN_WHEN_LEFT = 0.1
WARN_AFTER_FAILURES = 2
#: A token this close to its expiry is not sent: it may expire on the way.
MAX_SEND_MARGIN = 5.0


@dataclass(frozen=True)
class HeldToken:
    """A bearer the endpoint granted, and its lifetime in epoch seconds."""

    value: str = field(repr=False)
    obtained_at: float
    expires_at: float

    @property
    def lifetime(self) -> float:
        """Seconds from obtaining the token to its expiry."""
        return self.expires_at - self.obtained_at

    @property
    def renew_at(self) -> float:
        """When 20 % of the lifetime is left."""
        return self.expires_at - RENEW_WHEN_LEFT * self.lifetime

    def usable(self, now: float) -> bool:
        """True when the token can still be sent at ``now`` with time to reach the server."""
        margin = min(MAX_SEND_MARGIN, 0.05 * self.lifetime)
        return now < self.expires_at - margin

    def expiry_near(self, now: float) -> bool:
        """True when 10 % of the lifetime or less is left (or the token has expired)."""
        return self.expires_at - now <= WARN_WHEN_LEFT * self.lifetime


class RenewalPlan:
    """Decides when the next fetch is due; counts failures and backs off after each."""

    def __init__(self, policy: ReconnectPolicy) -> None:
        self._policy = policy
        self._retry_at: float | None = None
        #: Consecutive failed fetches; 0 after a success.
        self.failures = 0

    def succeeded(self) -> None:
        """A token was obtained: the backoff starts from the beginning next time."""
        self.failures = 0
        self._retry_at = None
        self._policy.reset()

    def failed(
        self, now: float, *, retry_after: float | None = None, refused: bool = False
    ) -> float:
        """Record a failed fetch at ``now`` (epoch s); the seconds until the next try.

        ``refused``: the endpoint refused the client credentials (wait at the cap).
        """
        self.failures += 1
        delay = self._policy.next_delay(now, retry_after=retry_after, at_cap=refused)
        self._retry_at = now + delay
        return delay

    def next_fetch_at(self, token: HeldToken, now: float) -> float:
        """When (epoch s) to fetch next: the backoff's retry time after a failure, else
        the token's renewal time."""
        if self._retry_at is not None:
            return self._retry_at
        return token.renew_at

    def should_warn(self, token: HeldToken | None, now: float) -> bool:
        """Expiry is near (or there is no token) and renewal keeps failing."""
        near = token is None or token.expiry_near(now)
        return near and self.failures >= WARN_AFTER_FAILURES
