"""Server faults: killed, frozen, refusing, unreachable by name, or not to be trusted."""

from __future__ import annotations

import itertools
import time

import pytest

from alo_edge.lab import mint_token
from tests.faults import scenarios
from tests.faults.rig import USER, FaultRig
from tests.faults.scenarios import assert_noticed_and_healed, assert_sane
from tests.helpers import STEP


@pytest.mark.timeout(120)
def test_a_killed_server_is_noticed_and_the_restarted_one_reconnected(rig: FaultRig) -> None:
    result = scenarios.server_killed(rig, seconds=5)

    assert_noticed_and_healed(result, recover_within=STEP)


@pytest.mark.timeout(150)
def test_a_frozen_server_is_noticed_and_reconnected_once_it_resumes(rig: FaultRig) -> None:
    result = scenarios.server_frozen(rig, seconds=20)

    assert_noticed_and_healed(result, recover_within=STEP)


@pytest.mark.timeout(120)
def test_503_retry_after_7_is_not_retried_before_7_s(rig: FaultRig) -> None:
    result, requests = scenarios.service_unavailable(rig, retry_after=7, failures=2)

    assert "HTTP 503" in result.messages[0], result
    refused = [r for r in requests if r["status"] == 503]
    assert len(refused) >= 2, requests
    # Every request after a 503 came at least Retry-After seconds later.
    for earlier, later in itertools.pairwise(requests):
        if earlier["status"] == 503:
            assert later["ts"] - earlier["ts"] >= 7.0, requests
    assert result.recover_s is not None, result
    assert result.recover_s <= 7.0 + STEP, result
    assert result.alive, result


@pytest.mark.timeout(120)
def test_401_retries_at_the_cap_and_a_rotated_token_connects(rig: FaultRig) -> None:
    cap = 4.0
    forged = mint_token("a-secret-this-lab-never-had-0123456789", USER, 60, time.time())
    result, requests, replaced = scenarios.rotated_token(
        rig, forged, attempts=3, reconnect={"max_delay": cap}
    )

    assert "HTTP 401" in result.messages[0], result
    refused = [r for r in requests if r["ts"] < replaced]
    assert refused, requests
    assert all(r["status"] == 401 for r in refused), requests
    # At the cap only: jitter may shorten a capped wait by up to 20 %, never more.
    gaps = [later["ts"] - earlier["ts"] for earlier, later in itertools.pairwise(refused)]
    assert gaps, requests
    assert all(gap >= 0.8 * cap for gap in gaps), gaps
    # The next attempt after the token file was replaced connects: no 401 after it.
    after = [r for r in requests if r["ts"] >= replaced]
    assert after, requests
    assert after[0]["status"] == 200, requests
    assert all(r["status"] < 400 for r in after), requests
    assert result.recover_s is not None, result
    assert result.recover_s <= cap + 2.0, result
    assert result.alive, result


@pytest.mark.timeout(90)
def test_an_unresolvable_host_name_is_named_and_retried(rig: FaultRig) -> None:
    result = scenarios.unresolvable_host(rig, seconds=8)

    assert result.detect_s is not None, result
    assert any("alo-lab.invalid" in m for m in result.messages), result
    assert result.syns_during == 0, result  # nothing reached the server
    assert_sane(result)


@pytest.mark.timeout(90)
def test_an_untrusted_certificate_is_refused_before_the_token_is_sent(rig: FaultRig) -> None:
    result = scenarios.untrusted_tls(rig, seconds=8)

    assert result.detect_s is not None, result
    assert any("certificate" in m.lower() for m in result.messages), result
    # The TLS handshake failed every time: no HTTP request, so no token, ever crossed.
    assert result.requests_during == 0, result
    assert result.alive, result
