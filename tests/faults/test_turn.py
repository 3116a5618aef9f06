"""TURN through a NAT that drops UDP: Debian's coturn, the lab's short-lived credentials."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.faults import turn
from tests.faults.rig import FaultRig
from tests.netns import node_tag


@pytest.fixture
def nat_rig(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[FaultRig]:
    made = turn.nat_rig(tmp_path, node_tag(request))
    try:
        yield made
    finally:
        made.close()


@pytest.mark.timeout(120)
def test_a_nat_that_drops_all_udp_is_crossed_by_turn_over_tcp_within_5_s(
    nat_rig: FaultRig,
) -> None:
    # The lab names TURN over UDP first, then TCP (an operator's fallback list); aioice
    # would only ever use the first one (73a265e never connected here).
    result = turn.fallback_list(nat_rig, udp_blocked=True)

    assert result.recover_s is not None, result
    assert result.recover_s <= 5.0, result
    assert result.media_path == "TURN/TCP", result
    assert result.median_fps is not None, result
    assert result.median_fps >= 25.0, result
    assert result.messages == [], result  # no failed attempt on the way
    assert result.alive, result


@pytest.mark.timeout(120)
def test_with_udp_allowed_the_same_config_sends_its_media_over_udp(nat_rig: FaultRig) -> None:
    result = turn.fallback_list(nat_rig, udp_blocked=False)

    assert result.recover_s is not None, result
    assert result.recover_s <= 5.0, result
    assert result.media_path == "UDP", result
    assert result.median_fps is not None, result
    assert result.median_fps >= 25.0, result
    assert result.alive, result


@pytest.mark.timeout(120)
def test_turn_over_tls_gets_through_too(nat_rig: FaultRig) -> None:
    result = turn.turn_over_tls(nat_rig)

    assert result.recover_s is not None, result
    assert result.recover_s <= 5.0, result
    assert result.media_path == "TURN/TCP", result
    assert result.median_fps is not None, result
    assert result.median_fps >= 25.0, result
    assert result.alive, result


@pytest.mark.timeout(90)
def test_a_wrong_turn_password_is_reported_as_such(nat_rig: FaultRig) -> None:
    # 73a265e said only "media path did not come up within 10 s".
    result, message = turn.wrong_turn_password(nat_rig)

    assert "media path did not come up" in message, message
    assert "refused the credentials" in message, message
    assert "401" in message, message
    assert "not-the-password" not in message
    assert result.alive
