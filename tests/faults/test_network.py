"""Network faults between the device and the lab: it notices fast, recovers fast, stays sane."""

from __future__ import annotations

import pytest

from tests.faults import scenarios
from tests.faults.rig import FaultRig
from tests.faults.scenarios import MIN_FPS, assert_noticed_and_healed, assert_sane


@pytest.mark.timeout(150)
def test_blackhole_is_an_error_within_10_s_and_recovers_within_5_s_of_its_next_retry(
    rig: FaultRig,
) -> None:
    # liveness_timeout is the default 8 s: no RTCP receiver report for 8 s = dead link.
    result = scenarios.blackhole(rig, seconds=30)

    # A blackhole looks like nothing to the host: the device heals at its next retry, whose
    # jittered wait is at most the window it is in: ~22 s into the outage, with 5 s connect
    # timeouts between the waits, its 4th (8 s) or at most its 5th (16 s).
    assert result.retry_wait_s is not None, result
    assert result.retry_wait_s <= 16.0, result
    assert_noticed_and_healed(result, recover_within=result.retry_wait_s + 5.0)
    assert "RTCP" in result.messages[0], result


@pytest.mark.timeout(150)
def test_ten_percent_loss_stays_connected_and_the_picture_is_not_starved(rig: FaultRig) -> None:
    # 720p30 passthrough (the picamera2 stand-in): random loss is no reason to cut.
    result = scenarios.loss(rig, percent=10, seconds=30)

    assert result.detect_s is None, result  # never left CONNECTED
    assert result.min_fps is not None, result
    assert result.min_fps >= MIN_FPS, result
    assert result.median_fps is not None, result
    assert result.median_fps >= 25.0, result
    assert_sane(result)


@pytest.mark.timeout(180)
def test_720p_through_a_500_kbit_uplink_adapts_and_comes_back(rig: FaultRig) -> None:
    # 73a265e: the lab decoded a median 1.7 fps, often 0-0.2, and nothing changed.
    result = scenarios.bandwidth(rig, kbit=500, seconds=30)

    assert result.detect_s is None, result
    assert result.median_fps is not None, result
    assert result.median_fps >= 20.0, result
    assert result.adapted_min_fps is not None, result
    assert result.adapted_min_fps >= 10.0, result  # never under 10 once it had 10 s to adapt
    assert result.p95_latency_ms is not None, result
    assert result.p95_latency_ms <= 400.0, result
    assert result.restored_s is not None, result
    assert result.restored_s <= 15.0, result  # back to video.bitrate once the limit lifts
    assert_sane(result)


@pytest.mark.timeout(180)
def test_720p_through_a_300_kbit_uplink_keeps_a_moving_picture(rig: FaultRig) -> None:
    result = scenarios.bandwidth(rig, kbit=300, seconds=30)

    assert result.detect_s is None, result
    assert result.median_fps is not None, result
    assert result.median_fps >= 12.0, result
    assert_sane(result)


@pytest.mark.timeout(120)
def test_a_5_s_link_drop_is_bridged_or_healed_within_5_s(rig: FaultRig) -> None:
    result = scenarios.link_down(rig, seconds=5)

    # Shorter than liveness_timeout: the session may ride it out; if not, it heals fast.
    if result.recover_s is not None:
        assert result.recover_s <= 5.0, result
    assert_sane(result)


@pytest.mark.timeout(150)
def test_a_20_s_link_drop_is_an_error_and_heals_when_the_route_returns(rig: FaultRig) -> None:
    result = scenarios.link_down(rig, seconds=20)

    # The returning default route cuts the backoff wait short (netlink).
    assert_noticed_and_healed(result, recover_within=3.0)
