"""The passthrough building blocks: access units from a file, pacing, keyframe requests."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path

import av
import pytest
from aiortc import RTCPeerConnection, VideoStreamTrack

from alo_edge.errors import ConfigError
from alo_edge.media.bridge import ThreadBridge
from alo_edge.media.device import ThreadedDevice
from alo_edge.media.filesource import FileSource, read_h264_file
from alo_edge.media.passthrough import (
    VIDEO_TIME_BASE,
    KeyframeRequests,
    PassthroughTrack,
    answer_keyframe_requests,
    is_idr,
    nal_unit_types,
)
from alo_edge.media.tracks import TrackSlot
from alo_edge.transport.ice import rtc_configuration
from tests.media_support import make_h264


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """1 s of 160x96 at 30 fps, an IDR every 10 pictures."""
    path = tmp_path_factory.mktemp("clip") / "clip.h264"
    return make_h264(path, width=160, height=96, fps=30, frames=30, gop=10)


def test_a_file_is_split_into_access_units_with_idrs_at_the_gop(clip: Path) -> None:
    units, fps, width, height = read_h264_file(clip, fallback_fps=25)

    assert (len(units), fps, width, height) == (30, 30, 160, 96)
    assert [i for i, (_, key) in enumerate(units) if key] == [0, 10, 20]
    first, _ = units[0]
    # repeat-headers: SPS (7) and PPS (8) ride with every IDR (5).
    assert nal_unit_types(first)[:2] == [7, 8]
    assert is_idr(first)
    assert not is_idr(units[1][0])


def test_a_file_that_is_not_h264_is_a_config_error(tmp_path: Path) -> None:
    junk = tmp_path / "junk.h264"
    junk.write_bytes(b"not a video at all" * 100)
    with pytest.raises(ConfigError, match=r"video\.file"):
        read_h264_file(junk, fallback_fps=30)
    with pytest.raises(ConfigError, match=r"video\.file"):
        read_h264_file(tmp_path / "missing.h264", fallback_fps=30)


async def test_the_file_source_is_paced_and_a_keyframe_request_jumps_to_the_next_idr(
    clip: Path,
) -> None:
    source = FileSource(clip)
    track = source.track
    assert isinstance(track, PassthroughTrack)
    started = time.monotonic()
    packets = [await track.recv() for _ in range(3)]
    # Three pictures at 30 fps: the first at once, the third two periods later.
    assert 0.06 <= time.monotonic() - started < 0.3
    assert [p.pts for p in packets] == [0, 3000, 6000]
    assert all(p.time_base == VIDEO_TIME_BASE for p in packets)

    source.request_keyframe()
    jumped = await track.recv()
    assert is_idr(bytes(jumped))
    assert jumped.pts == 9000  # time runs on; only the picture jumped
    assert (source.keyframes.requested, source.keyframes.forced) == (1, 1)
    source.stop()
    assert track.readyState == "ended"


async def test_keyframe_requests_are_rate_limited_but_never_lost() -> None:
    now = [100.0]
    forced: list[float] = []
    requests = KeyframeRequests(lambda: forced.append(now[0]), 0.05, clock=lambda: now[0])

    requests.request()
    assert forced == [100.0]  # the first is immediate
    now[0] = 100.01
    requests.request()
    requests.request()  # coalesced with the deferred one
    assert forced == [100.0]
    await asyncio.sleep(0.1)
    assert len(forced) == 2
    assert (requests.requested, requests.forced) == (3, 2)
    requests.close()


async def test_a_pli_on_an_aiortc_sender_reaches_the_track_it_sends(clip: Path) -> None:
    source = FileSource(clip)
    pc = RTCPeerConnection(configuration=rtc_configuration([]))
    try:
        sender = pc.addTransceiver("video", direction="sendonly").sender
        answer_keyframe_requests(sender)
        sender.replaceTrack(source.track)

        sender._send_keyframe()  # what aiortc does for an RTCP PLI or FIR

        assert source.keyframes.requested == 1
    finally:
        source.stop()
        await pc.close()


async def test_the_bridge_crosses_threads_and_drops_the_oldest_when_full() -> None:
    bridge: ThreadBridge[int] = ThreadBridge(3)
    bridge.attach(asyncio.get_running_loop())

    def produce() -> None:
        for item in range(5):
            bridge.push(item)

    thread = threading.Thread(target=produce)
    thread.start()
    thread.join()
    await asyncio.sleep(0.01)  # let the loop run the scheduled puts

    assert [await bridge.get() for _ in range(3)] == [2, 3, 4]
    assert bridge.dropped == 2
    assert bridge.last_item_at is not None


async def test_a_source_hands_out_a_new_track_after_aiortc_ended_the_last() -> None:
    made: list[VideoStreamTrack] = []

    def factory() -> VideoStreamTrack:
        track = VideoStreamTrack()
        made.append(track)
        return track

    slot = TrackSlot(factory)
    first = slot.get()
    assert slot.get() is first
    first.stop()  # what RTCRtpSender does when its connection closes
    second = slot.get()
    assert second is not first
    assert second.readyState == "live"
    slot.stop()
    assert slot.get() is second
    assert second.readyState == "ended"
    assert len(made) == 2


class RecordingDevice(ThreadedDevice[int, VideoStreamTrack]):
    """A device that only records its life cycle: where each step ran, in what order."""

    kind = "video"
    device_id = "recording"

    def __init__(self) -> None:
        super().__init__(2, lambda _bridge: VideoStreamTrack())
        self.steps: list[tuple[str, bool]] = []  # (step, ran on the loop's thread)

    def _on_loop(self) -> bool:
        return threading.current_thread() is threading.main_thread()

    def _open(self) -> None:
        self.steps.append(("open", self._on_loop()))

    def _close(self) -> None:
        self.steps.append(("close", self._on_loop()))

    def _before_reopen(self) -> None:
        self.steps.append(("hook", self._on_loop()))


async def test_a_threaded_device_opens_and_closes_off_the_loop_under_one_track() -> None:
    device = RecordingDevice()
    await device.start()
    track = device.track
    device._bridge.push(1)
    await asyncio.sleep(0.01)  # let the loop run the scheduled put
    assert device.last_frame_at is not None

    await device.restart()
    device._bridge.push(2)
    await asyncio.sleep(0.01)
    assert await device._bridge.get() == 2  # what the old device queued is forgotten
    assert device.track is track
    assert track.readyState == "live"

    device.stop()
    assert track.readyState == "ended"
    assert device.steps == [
        ("open", False),
        ("close", False),
        ("hook", True),
        ("open", False),
        ("close", True),
    ]


def test_packets_carry_annex_b_data_aiortc_can_pack(clip: Path) -> None:
    from aiortc.codecs.h264 import H264Encoder

    units, *_ = read_h264_file(clip, fallback_fps=30)
    packet = av.Packet(units[0][0])
    packet.pts, packet.time_base = 0, VIDEO_TIME_BASE
    payloads, timestamp = H264Encoder().pack(packet)
    assert payloads
    assert timestamp == 0
