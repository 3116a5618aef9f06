"""ALSA end to end with real alsa-lib: ``type file`` PCMs stand in for the sound card.

alsa-lib reads ``$HOME/.asoundrc`` once per process, on the first PCM it opens, so
every in-process ALSA test here shares one module-wide ``.asoundrc`` (and no other
test module opens ALSA in-process).
"""

from __future__ import annotations

import asyncio
import fractions
import time
from pathlib import Path

import av
import numpy as np
import pytest
from aiortc import RTCPeerConnection

from alo_edge.media.alsa import AlsaPlaybackSink, AlsaSource
from alo_edge.media.synthetic import ToneTrack
from alo_edge.transport.ice import pin_host_addresses, rtc_configuration
from tests.integration.media_lab import InProcessLab, start_device, stop_device
from tests.media_support import dominant_frequency, tone, write_asoundrc

pytestmark = pytest.mark.integration

RATE = 48_000


class AlsaHome:
    def __init__(self, home: Path) -> None:
        self.home = home
        self.tone_file = home / "tone-1khz.raw"
        self.speaker_file = home / "speaker.raw"


@pytest.fixture(scope="module")
def alsa_home(tmp_path_factory: pytest.TempPathFactory) -> AlsaHome:
    home = AlsaHome(tmp_path_factory.mktemp("alsa-home"))
    home.tone_file.write_bytes(tone(1000.0, seconds=10.0))
    write_asoundrc(
        home.home,
        capture={"alo_tone": home.tone_file},
        playback={"alo_speaker": home.speaker_file},
    )
    return home


@pytest.fixture
def alsa(alsa_home: AlsaHome, monkeypatch: pytest.MonkeyPatch) -> AlsaHome:
    monkeypatch.setenv("HOME", str(alsa_home.home))
    return alsa_home


async def test_capture_from_a_file_device_is_paced_at_20_ms_frames(alsa: AlsaHome) -> None:
    source = AlsaSource("alo_tone", RATE, 1)
    await source.start()
    try:
        track = source.track
        started = time.monotonic()
        frames = [await track.recv() for _ in range(26)]
        elapsed = time.monotonic() - started
    finally:
        source.stop()

    # The file device has all 10 s ready at once; 26 frames must still take ~0.5 s.
    assert 0.45 <= elapsed < 1.0
    assert [f.samples for f in frames] == [960] * 26
    assert [f.pts for f in frames[:3]] == [0, 960, 1920]
    captured = b"".join(bytes(f.planes[0])[: f.samples * 2] for f in frames)
    assert captured == alsa.tone_file.read_bytes()[: len(captured)]  # byte-identical


async def test_a_1khz_tone_behind_alsa_reaches_the_lab_at_50_frames_per_second(
    alsa: AlsaHome, tmp_path: Path
) -> None:
    async with InProcessLab(tmp_path) as lab:
        config = lab.device_config(
            "mic", video={"source": "none"}, audio={"source": "alsa", "device": "alo_tone"}
        )
        video, log = await start_device(config)
        try:
            await lab.wait_for("mic", lambda r: r["audioFrames"] >= 25)
            before, started = (await lab.report("mic"))["audioFrames"], time.monotonic()
            await asyncio.sleep(2.0)
            report = await lab.report("mic")
            rate = (report["audioFrames"] - before) / (time.monotonic() - started)

            assert rate == pytest.approx(50, abs=5), report
            assert report["audioFrequency"] == pytest.approx(1000, abs=20), report
            published = log.of("onPublishedStreamChange")[-1]
            assert published["inputDeviceIds"] == {"audio": "alsa:alo_tone"}
        finally:
            await stop_device(video)


async def test_remote_audio_played_through_alsa_lands_in_the_device_file(
    alsa: AlsaHome,
) -> None:
    pin_host_addresses(["127.0.0.1"])
    sink = AlsaPlaybackSink("alo_speaker", RATE, 1)
    await sink.start()
    far_end = RTCPeerConnection(configuration=rtc_configuration([]))
    device = RTCPeerConnection(configuration=rtc_configuration([]))
    played: asyncio.Task[None] | None = None
    remote = asyncio.get_running_loop().create_future()
    device.on("track", remote.set_result)
    try:
        far_end.addTrack(ToneTrack(1000.0))  # the operator's talk-back voice
        await far_end.setLocalDescription(await far_end.createOffer())
        await device.setRemoteDescription(far_end.localDescription)
        await device.setLocalDescription(await device.createAnswer())
        await far_end.setRemoteDescription(device.localDescription)
        track = await asyncio.wait_for(remote, 10)

        async def play() -> None:
            # What a transport does with a remote audio track: each frame to the sink.
            while True:
                sink.write(await track.recv())

        played = asyncio.create_task(play())
        await asyncio.sleep(1.5)
        assert sink.written >= 2 * RATE  # a second of s16 mono handed to alsa-lib
    finally:
        if played is not None:
            played.cancel()
            await asyncio.gather(played, return_exceptions=True)
        sink.stop()
        await far_end.close()
        await device.close()

    samples = np.frombuffer(alsa.speaker_file.read_bytes(), dtype="<i2")
    assert len(samples) >= RATE
    loud = samples[-RATE:]
    assert np.abs(loud).max() > 1000  # not silence
    assert dominant_frequency(loud, RATE) == pytest.approx(1000, abs=20)


def mono_and_stereo(pts: int) -> tuple[av.AudioFrame, av.AudioFrame]:
    samples = (np.sin(np.arange(960) / 4) * 8000).astype(np.int16)
    mono = av.AudioFrame.from_ndarray(samples.reshape(1, -1), format="s16", layout="mono")
    stereo = av.AudioFrame.from_ndarray(
        np.repeat(samples, 2).reshape(1, -1), format="s16", layout="stereo"
    )
    for frame in (mono, stereo):
        frame.sample_rate = RATE
        frame.pts = pts
        frame.time_base = fractions.Fraction(1, RATE)
    return mono, stereo


async def test_a_speaker_fed_twice_as_fast_as_real_time_still_plays_in_real_time(
    alsa: AlsaHome,
) -> None:
    # Talk-back (stereo from aiortc's Opus decoder) and the self-test's sweep (mono) on one
    # speaker: a type-file device never blocks, so without its own pacing the speaker would
    # run ahead of the microphone it echoes into (and a second frame shape stopped it).
    sink = AlsaPlaybackSink("alo_speaker", RATE, 1)
    await sink.start()
    started = time.monotonic()
    try:
        for index in range(50):  # 1 s of 20 ms steps, two frames each
            mono, stereo = mono_and_stereo(index * 960)
            sink.write(stereo)
            sink.write(mono)
            await asyncio.sleep(max(started + (index + 1) * 0.02 - time.monotonic(), 0))
        elapsed = time.monotonic() - started
        played = sink.written / (2 * RATE)
    finally:
        sink.stop()
    assert played <= elapsed + 0.3, (played, elapsed)  # one 80 ms ALSA buffer ahead, at most
    assert played >= 0.8 * elapsed
    assert sink.dropped > 0  # the excess was dropped (and counted), not queued forever
