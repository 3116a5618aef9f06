"""The reconnect backoff policy, on fixed random numbers and explicit timestamps."""

from __future__ import annotations

import math

import pytest

from alo_edge.config import ReconnectConfig
from alo_edge.session.backoff import ReconnectPolicy

LONGEST = 0.0  # random() == 0: the whole window (the longest wait)
SHORTEST = 0.999_999_999  # random.random() never returns 1.0: the shortest wait
CAP = ReconnectConfig().max_delay


def policy(random_value: float = LONGEST, **settings: float) -> ReconnectPolicy:
    return ReconnectPolicy(ReconnectConfig(**settings), lambda: random_value)


def delays(p: ReconnectPolicy, count: int, now: float = 0.0) -> list[float]:
    return [p.next_delay(now) for _ in range(count)]


def test_windows_double_from_one_second_to_the_cap() -> None:
    # The first retry waits at most initial_delay: it is no longer immediate everywhere.
    assert delays(policy(), 8) == [1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0, 30.0]


def test_defaults_are_one_second_doubling_to_thirty_with_full_jitter() -> None:
    settings = ReconnectConfig()
    assert (settings.initial_delay, settings.max_delay, settings.multiplier) == (1.0, 30.0, 2.0)
    assert (settings.jitter, settings.stable_after) == (1.0, 30.0)


def test_sequence_follows_configured_initial_delay_multiplier_and_cap() -> None:
    p = policy(initial_delay=0.5, multiplier=3.0, max_delay=10.0)
    assert delays(p, 6) == [0.5, 1.5, 4.5, 10.0, 10.0, 10.0]


def test_full_jitter_draws_each_wait_from_the_whole_window() -> None:
    middle = delays(policy(0.5), 7)
    shortest = delays(policy(SHORTEST), 7)
    assert middle == pytest.approx([0.5, 1.0, 2.0, 4.0, 8.0, 15.0, 15.0])
    assert all(0 < delay < 1e-6 for delay in shortest)  # never below zero, never exactly zero


def test_the_first_retry_waits_at_most_the_initial_delay() -> None:
    assert policy(LONGEST).next_delay(0.0) == 1.0
    assert policy(0.25).next_delay(0.0) == pytest.approx(0.75)
    assert policy(LONGEST, initial_delay=0.2).next_delay(0.0) == 0.2


def test_partial_jitter_spreads_the_top_share_of_each_window() -> None:
    assert delays(policy(SHORTEST, jitter=0.2), 6) == pytest.approx(
        [0.8, 1.6, 3.2, 6.4, 12.8, 24.0], rel=1e-6
    )
    assert delays(policy(SHORTEST, jitter=0.0), 3) == [1.0, 2.0, 4.0]  # exact waits


def test_no_wait_is_longer_than_the_cap() -> None:
    assert all(delay <= CAP for delay in delays(policy(LONGEST), 50))


def test_stable_connection_of_thirty_seconds_resets_the_sequence() -> None:
    p = policy()
    delays(p, 4, now=100.0)
    p.connected(200.0)
    assert p.next_delay(230.0) == 1.0
    assert p.retry_count == 1
    assert p.next_delay(230.0) == 2.0


def test_connection_of_twenty_nine_seconds_does_not_reset_the_sequence() -> None:
    p = policy()
    delays(p, 4, now=100.0)  # 1, 2, 4, 8
    p.connected(200.0)
    assert p.next_delay(229.0) == 16.0
    assert p.retry_count == 5


def test_stability_counts_only_the_latest_connection() -> None:
    p = policy()
    p.connected(0.0)
    delays(p, 3, now=10.0)  # the link failed after 10 s: 1, 2, 4
    assert p.next_delay(100.0) == 8.0  # no connection since the failures: nothing to reset


@pytest.mark.parametrize(("failures_before", "sequence_says"), [(0, 1.0), (1, 2.0)])
def test_retry_after_is_a_floor_over_the_sequence(
    failures_before: int, sequence_says: float
) -> None:
    p, twin = policy(), policy()
    delays(p, failures_before)
    delays(twin, failures_before)
    assert twin.next_delay(0.0) == sequence_says
    assert p.next_delay(0.0, retry_after=7.0) == 7.0


def test_retry_after_is_lengthened_by_at_most_twenty_percent_never_shortened() -> None:
    assert policy(LONGEST).next_delay(0.0, retry_after=7.0) == 7.0
    assert policy(0.5).next_delay(0.0, retry_after=7.0) == pytest.approx(7.7)
    assert policy(SHORTEST).next_delay(0.0, retry_after=7.0) == pytest.approx(8.4)
    assert policy(SHORTEST, jitter=0.0).next_delay(0.0, retry_after=7.0) == 7.0


def test_retry_after_shorter_than_the_sequence_does_not_shorten_it() -> None:
    p = policy()
    delays(p, 6)
    assert p.next_delay(0.0, retry_after=2.0) == 30.0


def test_retry_after_longer_than_the_cap_is_honoured() -> None:
    assert policy().next_delay(0.0, retry_after=120.0) == 120.0


def test_auth_failure_waits_the_cap_even_as_the_first_failure() -> None:
    p = policy()
    assert p.next_delay(0.0, at_cap=True) == CAP
    assert p.next_delay(0.0, at_cap=True) == CAP


def test_auth_failure_at_the_cap_is_spread_over_its_top_twenty_percent() -> None:
    assert policy(SHORTEST).next_delay(0.0, at_cap=True) == pytest.approx(24.0)
    assert policy(0.5).next_delay(0.0, at_cap=True) == pytest.approx(27.0)
    assert policy(SHORTEST, jitter=0.0).next_delay(0.0, at_cap=True) == CAP


def test_retry_count_counts_consecutive_failures_and_resets_after_a_stable_link() -> None:
    p = policy()
    counts = []
    for _ in range(3):
        p.next_delay(0.0)
        counts.append(p.retry_count)
    assert counts == [1, 2, 3]
    p.connected(0.0)
    p.next_delay(30.0)
    assert p.retry_count == 1


def test_retry_count_starts_at_zero() -> None:
    assert policy().retry_count == 0


def test_never_gives_up_after_a_thousand_failures() -> None:
    p = policy(SHORTEST)
    last = delays(p, 1000)[-1]
    assert math.isfinite(last)
    assert 0 < last <= CAP
    assert p.retry_count == 1000


def test_never_gives_up_through_a_night_long_outage() -> None:
    # At the 30 s cap, 3000 failures are about a day without the server.
    p = policy()
    for attempt in range(1, 3001):
        delay = p.next_delay(float(attempt) * CAP)
        assert math.isfinite(delay), attempt
        assert delay <= CAP, attempt
    assert p.retry_count == 3000
