"""The reconnect backoff policy (pure: the clock and the random source are parameters).

A fleet of devices loses the same server at the same instant, so every wait is random
and the devices come back spread out instead of all at once (AWS Architecture Blog,
"Exponential Backoff and Jitter": *full jitter*):

- the n-th consecutive failure waits up to ``initial_delay * multiplier ** (n - 1)``,
  capped at ``max_delay``; the wait is drawn from the top ``jitter`` share of that
  window (``jitter = 1``, the default: anywhere in ``(0, window]``). So the first
  retry comes within ``initial_delay``, never at the same instant on every device,
  and waits at the cap are spread over the whole cap instead of piling up on it;
- auth failures wait at the cap (retrying a refused token quickly only hammers the
  server), spread over its top :data:`FIXED_WAIT_SPREAD` (20 %);
- a server's ``Retry-After`` is a floor, lengthened by up to :data:`FIXED_WAIT_SPREAD`,
  so the devices a busy server turned away do not all return in the second it named.

``jitter = 0`` makes every wait exact (tests and benches that time the countdown).
A connection that stayed up for ``stable_after`` seconds resets the sequence. The
policy never gives up: a door intercom has nobody to restart it.
"""

from __future__ import annotations

import random
from collections.abc import Callable

from alo_edge.config import ReconnectConfig

#: The most a fixed wait (the cap for auth failures, a Retry-After) is spread by.
FIXED_WAIT_SPREAD = 0.2


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

    def window(self, failures: int) -> float:
        """The longest wait after ``failures`` consecutive failures (1: ``initial_delay``)."""
        s = self._settings
        ceiling = s.initial_delay
        # Grow step by step and stop at the cap: a week-long outage must not overflow.
        for _ in range(failures - 1):
            if ceiling >= s.max_delay:
                break
            ceiling *= s.multiplier
        return min(ceiling, s.max_delay)

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
        fixed_spread = min(s.jitter, FIXED_WAIT_SPREAD)
        if at_cap:
            delay = s.max_delay * (1.0 - fixed_spread * self._random())
        else:
            # random() is in [0, 1): the wait is in (window * (1 - jitter), window].
            delay = self.window(self._failures) * (1.0 - s.jitter * self._random())
        if retry_after is not None:
            delay = max(delay, retry_after * (1.0 + fixed_spread * self._random()))
        return delay
