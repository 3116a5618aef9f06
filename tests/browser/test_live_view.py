"""The lab's live view in real headless Chromium: the picture plays, talk-back reaches the speaker.

The device is the real `alo-edge run` process publishing a synthetic 320x240 picture to
a real `alo-edge lab`; Chromium opens ``/view/<channel>`` like a person would. For
talk-back the device plays into an ALSA ``type file`` PCM (HOME points alsa-lib at a
temporary ``.asoundrc``), and Chromium's fake microphone (a beep tone) is what talks.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from tests.browser.chromium import Page
from tests.browser.conftest import ARTIFACTS
from tests.helpers import STEP, LabProcess, Proc, device_config, state_is
from tests.media_support import write_asoundrc

pytestmark = pytest.mark.browser

CHANNEL = "door"
WIDTH, HEIGHT, FPS = 320, 240, 15
#: The speaker PCM: s16 mono at 48 kHz (the device's audio.rate and audio.channels).
SPEAKER_RATE = 48_000
BYTES_PER_SECOND = SPEAKER_RATE * 2
#: Peak (of 32767) above which a stretch of playback counts as sound, and below as silence.
SOUND_PEAK = 1000
SILENCE_PEAK = 100


def small_device(lab: LabProcess, tmp_path: Path, **audio: object) -> dict[str, dict[str, object]]:
    token = tmp_path / "token"
    token.write_text(lab.mint("door-1") + "\n", encoding="utf-8")
    document: dict[str, dict[str, object]] = dict(
        device_config(
            user_id="door-1",
            channel=CHANNEL,
            token_file=token,
            access_url=f"{lab.url}/v1/video/access",
        )
    )
    document["video"] = {"source": "synthetic", "width": WIDTH, "height": HEIGHT, "fps": FPS}
    document["audio"] = {"source": "synthetic", **audio}
    document["status"] = {"listen": ""}  # not under test here; never collides with a device
    return document


async def wait_connected(device: Proc) -> None:
    await asyncio.to_thread(device.wait_for, state_is("CONNECTED"), STEP, "CONNECTED")


async def open_view(page: Page, lab: LabProcess) -> None:
    await page.navigate(f"{lab.url}/view/{CHANNEL}")
    await page.wait_for(
        "window.aloView && window.aloView.pc.connectionState === 'connected'",
        STEP,
        "the view's peer connection to connect",
    )


async def save_screenshot(page: Page, name: str) -> Path:
    path = ARTIFACTS / name
    data = await page.screenshot()
    await asyncio.to_thread(path.parent.mkdir, parents=True, exist_ok=True)
    await asyncio.to_thread(path.write_bytes, data)
    return path


async def test_the_view_page_plays_the_channel_live(
    lab: LabProcess, start_device: Callable[..., Proc], page: Page, tmp_path: Path
) -> None:
    device = start_device(small_device(lab, tmp_path))
    await wait_connected(device)

    await page.navigate(f"{lab.url}/")
    links = await page.evaluate("[...document.querySelectorAll('a')].map(a => a.pathname)")
    assert f"/view/{CHANNEL}" in links

    await open_view(page, lab)
    size = await page.wait_for(
        f"(() => {{ const v = document.getElementById('video');"
        f" return v.videoWidth === {WIDTH} && v.videoHeight === {HEIGHT}"
        f" && [v.videoWidth, v.videoHeight]; }})()",
        STEP,
        f"the video element to reach {WIDTH}x{HEIGHT}",
    )
    assert size == [WIDTH, HEIGHT]
    # It plays: currentTime advances by a second of media within a bounded wait.
    started = await page.evaluate("document.getElementById('video').currentTime")
    await page.wait_for(
        f"document.getElementById('video').currentTime > {started} + 1.0",
        STEP,
        "currentTime to advance by 1 s",
    )
    # The page shows what the browser receives, and the states the device reported.
    await page.wait_for(
        f"document.getElementById('resolution').textContent === '{WIDTH}x{HEIGHT}'"
        " && Number(document.getElementById('fps').textContent) > 0"
        " && parseFloat(document.getElementById('level').textContent) > 0.1",
        STEP,
        "resolution, fps and the tone's audio level on the page",
    )
    timeline = await page.wait_for(
        "(() => { const t = document.getElementById('timeline').innerText;"
        " return t.includes('CONNECTED') && t; })()",
        STEP,
        "the device's CONNECTED in the timeline",
    )
    assert "ACQUIRING_ACCESS" in timeline
    assert "CONNECTING" in timeline
    shot = await save_screenshot(page, "live-view.png")
    assert shot.stat().st_size > 10_000  # a real picture, not a blank page


def peak(data: bytes) -> int:
    samples = np.frombuffer(data[: len(data) - len(data) % 2], dtype="<i2")
    return int(np.abs(samples.astype(np.int32)).max()) if samples.size else 0


class Speaker:
    """The device's ALSA playback file, read as it grows."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def size(self) -> int:
        try:
            return self.path.stat().st_size
        except FileNotFoundError:
            return 0

    def read(self, start: int, end: int | None = None) -> bytes:
        with self.path.open("rb") as file:
            file.seek(start)
            return file.read() if end is None else file.read(end - start)

    async def wait_size(self, size: int, timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while self.size() < size:
            if time.monotonic() > deadline:
                raise AssertionError(f"waited {timeout:g} s for {what}: {self.size()} bytes")
            await asyncio.sleep(0.05)

    async def wait_sound_after(self, offset: int, timeout: float) -> int:
        """The offset of the first 20 ms chunk after ``offset`` that is not silent."""
        deadline = time.monotonic() + timeout
        chunk = BYTES_PER_SECOND // 50
        position = offset
        while time.monotonic() < deadline:
            data = self.read(position)
            for start in range(0, len(data) - chunk + 1, chunk):
                if peak(data[start : start + chunk]) > SOUND_PEAK:
                    return position + start
            position += len(data) - len(data) % chunk
            await asyncio.sleep(0.05)
        raise AssertionError(f"no sound reached the speaker within {timeout:g} s")


async def test_push_to_talk_plays_the_browser_microphone_on_the_device_speaker(
    lab: LabProcess, start_device: Callable[..., Proc], page: Page, tmp_path: Path
) -> None:
    home = tmp_path / "home"
    home.mkdir()
    speaker = Speaker(home / "speaker.raw")
    write_asoundrc(home, capture={}, playback={"door_speaker": speaker.path})
    device = start_device(
        small_device(lab, tmp_path, playback=True, playback_device="door_speaker"),
        env={"HOME": str(home)},
    )
    await wait_connected(device)
    await open_view(page, lab)
    await page.wait_for(
        "!document.getElementById('talk').disabled", STEP, "the talk button to be enabled"
    )
    # The lab sends silence while nobody talks: a second of it reaches the speaker.
    await speaker.wait_size(BYTES_PER_SECOND, STEP, "1 s of talk-back silence")
    before = speaker.size()
    assert peak(speaker.read(0)) <= SILENCE_PEAK, "the speaker played sound before anyone talked"

    box = await page.evaluate(
        "(() => { const r = document.getElementById('talk').getBoundingClientRect();"
        " return [r.x + r.width / 2, r.y + r.height / 2]; })()"
    )
    await page.mouse("mouseMoved", *box)
    await page.mouse("mousePressed", *box)
    await page.wait_for("window.aloView.talking", STEP, "the page to start talking")
    await speaker.wait_sound_after(before, STEP)
    held_shot = await save_screenshot(page, "talking.png")
    assert held_shot.exists()

    await page.mouse("mouseReleased", *box)
    await page.wait_for("!window.aloView.talking", STEP, "the page to stop talking")
    released_at = speaker.size()
    # What was in flight (jitter buffers, the mixer's queue) plays out within 0.5 s of
    # audio; the second after that must be silent.
    settled = released_at + BYTES_PER_SECOND // 2
    await speaker.wait_size(settled + BYTES_PER_SECOND, STEP, "1.5 s of audio after release")
    after = speaker.read(settled, settled + BYTES_PER_SECOND)
    assert peak(after) <= SILENCE_PEAK, f"sound after release: peak {peak(after)}"
    assert device.running
