"""The rate control's glue: what reaches the encoder, the keyframe rationing, the journal."""

from __future__ import annotations

import logging
import struct

import pytest
from aiortc.rtp import RtcpReceiverInfo
from prometheus_client.parser import text_string_to_metric_families

from alo_edge.media.adaptive import AdaptiveBitrate
from alo_edge.media.feedback import round_trip_time
from alo_edge.media.passthrough import (
    CONGESTED_KEYFRAME_INTERVAL,
    KEYFRAME_MIN_INTERVAL,
    KeyframeRequests,
)
from alo_edge.media.picamera import V4L2_CID_MPEG_VIDEO_BITRATE, VIDIOC_S_CTRL, set_v4l2_bitrate


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def adaptive(
    clock: Clock, applied: list[int], keyframes: KeyframeRequests | None = None
) -> AdaptiveBitrate:
    return AdaptiveBitrate(
        2_000_000, 150_000, apply=applied.append, keyframes=keyframes, clock=clock
    )


def send_for(rate: AdaptiveBitrate, clock: Clock, seconds: float, bitrate: int) -> None:
    """The encoder hands 30 pictures a second of ``bitrate`` to the sender."""
    for _ in range(int(seconds * 30)):
        clock.now += 1 / 30
        rate.sent(bitrate // 8 // 30)


def test_a_cut_reaches_the_encoder_once_and_a_steady_target_is_not_re_sent() -> None:
    clock, applied = Clock(), []
    rate = adaptive(clock, applied)
    rate.on_receiver_report(0.0, 0.002, 0.02)
    assert applied == [2_000_000]
    rate.on_receiver_report(0.4, 0.002, 0.02)
    clock.now += 0.5
    rate.on_receiver_report(0.05, 0.002, 0.02)  # 2-10 % loss holds: nothing new to apply

    assert applied == [2_000_000, 1_600_000]


def test_what_reached_the_receiver_comes_from_its_sequence_numbers() -> None:
    # 2 Mbit/s sent, 500 kbit/s arrives: 1000-byte packets, 62 of the 250 a second.
    clock, applied = Clock(), []
    rate = adaptive(clock, applied)
    send_for(rate, clock, 1, 2_000_000)
    rate.on_receiver_report(0.0, 0.002, 0.02, received_packets=1_000, packet_size=1000.0)
    send_for(rate, clock, 1, 2_000_000)
    rate.on_receiver_report(0.75, 0.002, 0.4, received_packets=1_062, packet_size=1000.0)

    # Straight below what got through (85 % of ~496 kbit/s), not 1 - 0.5 x 75 %.
    assert applied[-1] == pytest.approx(0.85 * 62 * 8000 / 1.0, rel=0.05)


def test_congestion_rations_forced_keyframes_and_clearing_lifts_it() -> None:
    clock, applied = Clock(), []
    keyframes = KeyframeRequests(lambda: None, clock=clock)
    rate = adaptive(clock, applied, keyframes)
    rate.on_receiver_report(0.6, 0.002, 0.02)
    assert keyframes.min_interval == CONGESTED_KEYFRAME_INTERVAL
    for _ in range(40):  # the link comes back; the target grows to the maximum again
        clock.now += 1
        rate.on_receiver_report(0.0, 0.002, 0.02)

    assert rate.target == 2_000_000
    assert keyframes.min_interval == KEYFRAME_MIN_INTERVAL


def test_a_cut_and_the_restore_are_journal_lines_and_a_sawtooth_does_not_flood(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock, applied = Clock(), []
    rate = adaptive(clock, applied)
    with caplog.at_level(logging.INFO, logger="alo_edge.media.adaptive"):
        rate.on_receiver_report(0.3, 0.002, 0.02)
        for _ in range(2):  # more small cuts while congested: one line was enough
            clock.now += 2
            rate.on_receiver_report(0.0, 0.002, 0.20)
        for _ in range(60):
            clock.now += 1
            rate.on_receiver_report(0.0, 0.002, 0.02)

    lines = [r for r in caplog.records if r.levelno >= logging.INFO]
    assert [r.getMessage().split(":")[0] for r in lines] == [
        "video bitrate cut to 1700 kbit/s",
        "video bitrate restored to 2000 kbit/s (no loss, no queueing)",
    ]
    assert lines[0].levelno == logging.WARNING
    assert "30 % loss" in lines[0].getMessage()
    assert lines[0].ALO_TARGET_BITRATE == 1_700_000  # type: ignore[attr-defined]
    assert lines[1].ALO_RATE_CHANGE == "restored"  # type: ignore[attr-defined]


def test_a_source_that_cannot_re_encode_only_observes() -> None:
    clock = Clock()
    rate = AdaptiveBitrate(2_000_000, 2_000_000, apply=None, clock=clock)
    rate.on_receiver_report(0.5, 0.002, 0.02)

    status = rate.status()
    assert status["adapts"] is False
    assert status["targetBitrate"] == 2_000_000
    assert status["lossFraction"] == 0.5


def test_status_figures() -> None:
    clock, applied = Clock(), []
    rate = adaptive(clock, applied)
    send_for(rate, clock, 1.0, 900_000)
    rate.on_receiver_report(0.01, 0.004, 0.031)
    rate.on_remb(3_000_000)

    assert rate.status() == {
        "adapts": True,
        "targetBitrate": 2_000_000,
        "maxBitrate": 2_000_000,
        "minBitrate": 150_000,
        "sentBitrate": pytest.approx(900_000, rel=0.05),
        "lossFraction": 0.01,
        "roundTripTime": 0.031,
        "jitter": 0.004,
        "remoteEstimate": 3_000_000,
        "congested": False,
        "cuts": 0,
        "restores": 0,
    }


def test_the_round_trip_time_is_rfc_3550s_arrival_minus_lsr_minus_dlsr() -> None:
    # The sender report went out at NTP 0x0000AAAA_BBBB0000 (LSR = 0xAAAABBBB); the
    # receiver held it 0.25 s (DLSR = 0x4000); the report arrives 0.3 s after the SR left.
    sent = (0x1234AAAA << 32) | (0xBBBB << 16)
    arrival = sent + int(0.3 * 2**32)
    block = RtcpReceiverInfo(1, 0, 0, 0, 0, lsr=0xAAAABBBB, dlsr=0x4000)

    assert round_trip_time(block, arrival) == pytest.approx(0.05, abs=1e-4)
    assert round_trip_time(RtcpReceiverInfo(1, 0, 0, 0, 0, lsr=0, dlsr=0), arrival) is None


def test_the_v4l2_bitrate_control_is_the_one_picamera2_sets_at_start() -> None:
    calls: list[tuple[object, int, bytes]] = []
    set_v4l2_bitrate("fd", 750_000, ioctl=lambda fd, request, arg: calls.append((fd, request, arg)))

    [(fd, request, arg)] = calls
    assert fd == "fd"
    # _IOWR('V', 28, struct v4l2_control { __u32 id; __s32 value; })
    assert request == (3 << 30) | (8 << 16) | (ord("V") << 8) | 28 == VIDIOC_S_CTRL
    assert struct.unpack("=Ii", arg) == (V4L2_CID_MPEG_VIDEO_BITRATE, 750_000)
    assert V4L2_CID_MPEG_VIDEO_BITRATE == 0x00990900 + 207  # V4L2_CID_CODEC_BASE + 207


def test_the_rate_control_section_in_metrics_parses() -> None:
    from alo_edge.system.rate_status import RateControlStatus

    class Source:
        kind = "video"

        def __init__(self, rate: AdaptiveBitrate) -> None:
            self.rate_control = rate

    class Session:
        def __init__(self, sources: list[Source]) -> None:
            self.media_sources = sources

    clock, applied = Clock(), []
    rate = adaptive(clock, applied)
    rate.on_receiver_report(0.3, 0.002, 0.02)
    section = RateControlStatus()
    section._session = Session([Source(rate)])  # type: ignore[assignment]

    assert section.status()["video"]["targetBitrate"] == 1_700_000
    from prometheus_client import CollectorRegistry, generate_latest
    from prometheus_client.registry import Collector

    class Wrap(Collector):
        def collect(self):  # type: ignore[no-untyped-def]
            return section.metrics()

    registry = CollectorRegistry()
    registry.register(Wrap())
    families = {
        f.name: f for f in text_string_to_metric_families(generate_latest(registry).decode())
    }
    [target] = families["alo_edge_target_bitrate_bits_per_second"].samples
    assert target.labels == {"kind": "video"}
    assert target.value == 1_700_000
    assert families["alo_edge_packet_loss_ratio"].samples[0].value == 0.3
    assert families["alo_edge_bitrate_cuts"].samples[0].value == 1
