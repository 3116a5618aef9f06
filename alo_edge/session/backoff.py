"""The reconnect backoff policy (pure: the clock and the random source are parameters).

First retry immediately, then ``initial_delay`` doubling (``multiplier``) up to the
``max_delay`` cap, each delay spread by +-``jitter`` so a fleet that lost the same
server does not come back in lockstep. A connection that stayed up for
``stable_after`` seconds resets the sequence. A server's ``Retry-After`` is a floor.
Auth failures wait at the cap: retrying a refused token quickly only hammers the server.
The policy never gives up: a door intercom has nobody to restart it.
"""

from __future__ import annotations

import random
from collections.abc import Callable

from alo_edge.config import ReconnectConfig


class ReconnectPolicy:
    """Computes how long to wait before the next connection attempt."""

    def __init__(
        self, settings: ReconnectConfig, random_source: Callable[[], float] = random.random
    ) -> None:
        self._settings = settings
        self._random = random_source
        self._failures = 0
        self._connected_at: float | None = None

    @property
    def retry_count(self) -> int:
        """Consecutive failed attempts since the last stable connection (ALO's ``retryCount``)."""
        return self._failures

    def reset(self) -> None:
        """Forget past failures (a new session after disconnect starts from the beginning)."""
        self._failures = 0
        self._connected_at = None

    def connected(self, now: float) -> None:
        """Record that a connection came up at ``now`` (monotonic seconds)."""
        self._connected_at = now

    def next_delay(
        self, now: float, *, retry_after: float | None = None, at_cap: bool = False
    ) -> float:
        """Record a failure at ``now`` and return the seconds to wait before the next attempt.

        ``retry_after`` is the server's Retry-After; ``at_cap`` asks for the cap
        (auth failures) instead of the growing sequence.
        """
        s = self._settings
        if self._connected_at is not None and now - self._connected_at >= s.stable_after:
            self._failures = 0
        self._connected_at = None
        self._failures += 1
        if at_cap:
            base = s.max_delay
        elif self._failures == 1:
            base = 0.0
        else:
            base = s.initial_delay
            # Grow step by step and stop at the cap: a week-long outage must not overflow.
            for _ in range(self._failures - 2):
                if base >= s.max_delay:
                    break
                base *= s.multiplier
            base = min(base, s.max_delay)
        spread = 1.0 + s.jitter * (2.0 * self._random() - 1.0)
        # Jitter may shorten a capped delay but never lengthen it past the cap.
        delay = min(base * spread, s.max_delay)
        if retry_after is not None:
            delay = max(delay, retry_after)
        return delay
