"""Passthrough proven: a pre-encoded file reaches the lab with no encoder in the sender."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from alo_edge.api import AloVideo
from alo_edge.media.filesource import FileSource
from alo_edge.media.passthrough import PassthroughTrack
from tests.integration.media_lab import InProcessLab, start_device, stop_device
from tests.media_support import make_h264

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """4 s of 640x360 at 30 fps with one IDR per 4 s, as a camera with a long GOP sends."""
    path = tmp_path_factory.mktemp("passthrough") / "door.h264"
    return make_h264(path, width=640, height=360, fps=30, frames=120, gop=120)


def video_sender(video: AloVideo) -> Any:
    """The aiortc RTCRtpSender carrying video on the live connection (test-only access)."""
    connection: Any = video._supervisor.connection
    assert connection is not None
    senders = [s for s in connection._pc.getSenders() if s.track and s.track.kind == "video"]
    assert len(senders) == 1
    return senders[0]


def sender_encoder(sender: Any) -> Any:
    # aiortc keeps its per-sender codec object private; on the passthrough path it only
    # packetises, and its libx264 context (``codec``) must never be created.
    return sender._RTCRtpSender__encoder


async def decoded_rate(lab: InProcessLab, channel: str, seconds: float) -> float:
    before, started = (await lab.report(channel))["framesDecoded"], time.monotonic()
    await asyncio.sleep(seconds)
    after = (await lab.report(channel))["framesDecoded"]
    return (after - before) / (time.monotonic() - started)


async def test_a_file_is_published_without_an_encoder_and_decoded_at_full_rate(
    tmp_path: Path, clip: Path
) -> None:
    async with InProcessLab(tmp_path) as lab:
        config = lab.device_config(
            "pass", video={"source": "file", "file": str(clip)}, audio={"source": "none"}
        )
        video, log = await start_device(config)
        try:
            await log.wait_for(lambda: "CONNECTED" in log.states)
            await lab.wait_for("pass", lambda r: r["framesDecoded"] >= 10)

            rate = await decoded_rate(lab, "pass", 2.0)
            report = await lab.report("pass")
            sender = video_sender(video)

            assert rate >= 25, report
            assert (report["width"], report["height"]) == (640, 360)
            assert isinstance(sender.track, PassthroughTrack)
            encoder = sender_encoder(sender)
            assert encoder is not None
            assert encoder.codec is None  # a packetiser only: no libx264 context
            source = video.media_sources[0]
            assert isinstance(source, FileSource)
            assert source.keyframes.forced >= 1  # one as the connection came up
            published = log.of("onPublishedStreamChange")[-1]
            assert published["isPublishingVideo"] is True
            assert published["isPublishingAudio"] is False
            assert published["inputDeviceIds"] == {"video": "file:door.h264"}
        finally:
            await stop_device(video)


async def test_the_passthrough_track_survives_a_reconnect(tmp_path: Path, clip: Path) -> None:
    async with InProcessLab(tmp_path) as lab:
        config = lab.device_config(
            "again",
            video={"source": "file", "file": str(clip)},
            audio={"source": "none"},
        )
        video, log = await start_device(config)
        try:
            first = await lab.wait_for("again", lambda r: r["framesDecoded"] >= 10)
            source = video.media_sources[0]
            assert isinstance(source, FileSource)
            forced = source.keyframes.forced
            async with aiohttp.ClientSession() as http:
                kicked = await http.post(
                    f"{lab.server.url}/api/channels/again/kick",
                    headers={"Authorization": f"Bearer {lab.settings.api_key}"},
                )
                assert kicked.status == 200

            await log.wait_for(lambda: log.states.count("CONNECTED") == 2)
            await lab.wait_for(
                "again",
                lambda r: r["sessions"] == 2 and r["framesDecoded"] > first["framesDecoded"] + 30,
            )
            assert source.keyframes.forced > forced  # the new receiver got its IDR at once
        finally:
            await stop_device(video)


async def test_the_sender_probe_sees_aiortcs_encoder_when_it_encodes(tmp_path: Path) -> None:
    # The control for the passthrough proof: the same probe on an aiortc-encoded source.
    async with InProcessLab(tmp_path) as lab:
        config = lab.device_config(
            "encoded",
            video={"source": "synthetic", "width": 160, "height": 96},
            audio={"source": "none"},
        )
        video, _ = await start_device(config)
        try:
            await lab.wait_for("encoded", lambda r: r["framesDecoded"] >= 5)
            encoder = sender_encoder(video_sender(video))
            assert encoder.codec is not None
            assert encoder.codec.name == "libx264"
        finally:
            await stop_device(video)
