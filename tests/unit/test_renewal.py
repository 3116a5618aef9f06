"""When a short-lived token is renewed, and how a failing endpoint is retried (pure)."""

from __future__ import annotations

import pytest

from alo_edge.config import ReconnectConfig
from alo_edge.session.backoff import ReconnectPolicy
from alo_edge.session.renewal import HeldToken, RenewalPlan

NOW = 1_700_000_000.0
#: random() = 0: each wait is its whole backoff window (the policy draws downwards from it).
NO_JITTER = 0.0


def plan(random_value: float = NO_JITTER) -> RenewalPlan:
    return RenewalPlan(ReconnectPolicy(ReconnectConfig(), lambda: random_value))


def token(lifetime: float = 600.0, obtained: float = NOW) -> HeldToken:
    return HeldToken("t", obtained, obtained + lifetime)


def test_a_token_is_renewed_when_twenty_percent_of_its_lifetime_is_left() -> None:
    assert token(600.0).renew_at == NOW + 480.0
    assert token(86_400.0).renew_at == NOW + 69_120.0
    assert plan().next_fetch_at(token(600.0), NOW + 10) == NOW + 480.0


@pytest.mark.parametrize(
    ("lifetime", "last_sent"),
    [(600.0, 595.0), (10.0, 9.5)],
    ids=["margin capped at 5 s", "margin 5 % of a short life"],
)
def test_a_token_about_to_expire_is_not_sent(lifetime: float, last_sent: float) -> None:
    held = token(lifetime)

    assert held.usable(NOW + last_sent - 0.01)
    assert not held.usable(NOW + last_sent)
    assert not held.usable(NOW + lifetime + 1)


def test_a_failing_endpoint_is_retried_as_a_connection_attempt_is() -> None:
    renewal = plan()
    held = token(600.0)

    delays = [renewal.failed(NOW + 480) for _ in range(8)]

    assert delays == [1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0, 30.0]
    assert renewal.failures == 8
    assert renewal.next_fetch_at(held, NOW + 480) == NOW + 480 + 30.0


def test_refused_credentials_wait_at_the_cap_and_retry_after_is_honoured() -> None:
    refused = plan()
    busy = plan()

    assert refused.failed(NOW, refused=True) == 30.0
    assert busy.failed(NOW, retry_after=45.0) == 45.0


def test_jitter_spreads_the_retries() -> None:
    low, high = plan(0.0), plan(0.999_999)
    for renewal in (low, high):
        renewal.failed(NOW)

    # Full jitter: the second wait falls anywhere in its 2 s window.
    assert low.failed(NOW) == pytest.approx(2.0)
    assert high.failed(NOW) == pytest.approx(0.0, abs=1e-5)


def test_a_success_starts_the_backoff_again_and_goes_back_to_the_renewal_time() -> None:
    renewal = plan()
    for _ in range(5):
        renewal.failed(NOW)
    renewal.succeeded()

    assert renewal.failures == 0
    assert renewal.next_fetch_at(token(600.0, NOW + 100), NOW + 100) == NOW + 100 + 480.0
    assert renewal.failed(NOW + 200) == 1.0


def test_a_warning_only_when_expiry_is_near_and_renewal_keeps_failing() -> None:
    held = token(600.0)
    renewal = plan()

    renewal.failed(NOW + 480)
    assert not renewal.should_warn(held, NOW + 560)  # one failure: not yet "keeps failing"
    renewal.failed(NOW + 481)
    assert not renewal.should_warn(held, NOW + 481)  # 119 s of 600 left: not near
    assert renewal.should_warn(held, NOW + 540)  # 60 s left: 10 %
    assert renewal.should_warn(held, NOW + 700)  # expired
    assert renewal.should_warn(None, NOW)
