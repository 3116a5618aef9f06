"""The lab receives video as a browser does, and hands out short-lived TURN credentials."""

from __future__ import annotations

import base64
import hashlib
import hmac

from aiortc.rtp import RtpPacket

from alo_edge.lab.jitter import GIVE_UP_AFTER, PatientJitterBuffer
from alo_edge.lab.probes import LatencyProbe
from alo_edge.lab.turn import turn_ice_servers, turn_rest_credentials

IDR = b"\x00\x00\x00\x01\x67"  # an SPS: an IDR access unit starts so (repeat headers)
P_SLICE = b"\x00\x00\x00\x01\x41"


class Stream:
    """Three RTP packets per picture at 30 fps, an IDR every ``gop`` pictures."""

    def __init__(self, gop: int = 30) -> None:
        self.now = 0.0
        self.seq = 0
        self.gop = gop
        self.buffer = PatientJitterBuffer(clock=lambda: self.now)
        self.decoded: list[int] = []
        self.plis: list[float] = []

    def picture(self, index: int, *, lose: bool = False) -> None:
        self.now = index / 30
        for part in range(3):
            packet = RtpPacket(sequence_number=self.seq % 65536, timestamp=index * 3000)
            packet._data = (IDR if index % self.gop == 0 else P_SLICE) if part == 0 else b"\x01"  # type: ignore[attr-defined]
            self.seq += 1
            if lose and part == 1:
                continue
            pli, frame = self.buffer.add(packet)
            if pli:
                self.plis.append(self.now)
            if frame is not None:
                self.decoded.append(frame.timestamp // 3000)


def test_pictures_flow_one_by_one_without_loss() -> None:
    stream = Stream()
    for index in range(60):
        stream.picture(index)

    assert stream.decoded == list(range(59))  # the last completes with the next picture
    assert stream.plis == []


def test_a_lost_packet_is_given_up_on_and_video_resumes_at_the_next_idr() -> None:
    stream = Stream(gop=45)
    for index in range(100):
        stream.picture(index, lose=index == 10)

    assert stream.buffer.gave_up == 1
    [pli_at] = stream.plis  # the browser way: ask for a keyframe
    # Waited GIVE_UP_AFTER from the first picture behind the gap, not 512 packets (~6 s).
    assert GIVE_UP_AFTER <= pli_at - 11 / 30 <= GIVE_UP_AFTER + 0.05
    assert stream.decoded[:10] == list(range(10))
    resumed = [i for i in stream.decoded if i > 10]
    assert resumed == list(range(45, 99))  # nothing undecodable before the IDR, nothing stale


def test_turn_rest_credentials_are_what_a_shared_secret_turn_server_expects() -> None:
    username, credential = turn_rest_credentials("s3cret", "door-1", now=1_700_000_000, ttl=600)

    assert username == "1700000600:door-1"
    expected = hmac.new(b"s3cret", username.encode(), hashlib.sha1).digest()
    assert base64.b64decode(credential) == expected


def test_no_turn_servers_without_a_secret() -> None:
    assert turn_ice_servers(["turn:t.example.net"], None, "door-1", 0) == []
    [server] = turn_ice_servers(["turn:a", "turn:b"], "s", "door-1", 0)
    assert server["urls"] == ["turn:a", "turn:b"]


def test_latency_percentiles_over_the_pictures_since_a_moment() -> None:
    probe = LatencyProbe(wall_clock=lambda: 0.0)
    probe._latencies.extend([(float(t), float(t * 10)) for t in range(100)])

    assert probe.percentiles(since=90.0) == {"p50": 945.0, "p95": 985.5, "samples": 10}
    assert probe.percentiles(since=1000.0) is None
