"""The demo's talk-back in real headless Chromium: hold to talk, the virtual speaker hears it.

`alo-edge demo` runs as a new user runs it; Chromium opens the view it prints and holds
the page's Hold-to-talk button with its fake microphone (a beep tone). The demo's
device plays talk-back on its virtual speaker and prints the level: silence before,
sound while held, silence again after release.
"""

from __future__ import annotations

import asyncio
import re
import time

import pytest

from tests.browser.chromium import Page
from tests.helpers import STEP, Proc, Processes, free_port, state_is

pytestmark = pytest.mark.browser

LEVEL = re.compile(r"^speaker: talk-back playing, level (\d\.\d\d) ")
#: A held beep through Opus and the lab's mix peaks far above this; the lab's silence is 0.
HEARD = 0.05


def speaker_lines(demo: Proc) -> list[str]:
    return [line for line in demo.stderr.lines if line.startswith("speaker:")]


async def wait_speaker(demo: Proc, done: object, what: str, timeout: float = STEP) -> list[str]:
    """Poll the demo's speaker lines until ``done(lines)``; bounded by ``timeout``."""
    assert callable(done)
    deadline = time.monotonic() + timeout
    while not done(lines := speaker_lines(demo)):
        if time.monotonic() > deadline or not demo.running:
            raise AssertionError(f"waited for {what}; speaker lines: {lines}\n{demo.stderr.tail()}")
        await asyncio.sleep(0.05)
    return lines


async def test_hold_to_talk_in_the_demo_raises_the_virtual_speaker_level(
    procs: Processes, page: Page
) -> None:
    port = free_port()
    demo = procs.cli("demo", "--lab-listen", f"127.0.0.1:{port}", "--events", "-", name="demo")
    await asyncio.to_thread(demo.wait_for, state_is("CONNECTED"), STEP, "CONNECTED")
    view = f"http://127.0.0.1:{port}/view/demo"
    assert demo.stderr.wait_line(lambda line: line.startswith(f"view: {view}"), STEP)

    await page.navigate(view)
    await page.wait_for(
        "window.aloView && window.aloView.pc.connectionState === 'connected'",
        STEP,
        "the view's peer connection to connect",
    )
    await page.wait_for(
        "!document.getElementById('talk').disabled", STEP, "Hold to talk to be enabled"
    )
    # The lab sends silence while nobody talks: the speaker receives it and stays silent.
    lines = await wait_speaker(demo, lambda lines: lines, "talk-back to reach the speaker")
    assert lines == ["speaker: receiving talk-back (silent until someone holds Hold to talk)"]

    box = await page.evaluate(
        "(() => { const r = document.getElementById('talk').getBoundingClientRect();"
        " return [r.x + r.width / 2, r.y + r.height / 2]; })()"
    )
    await page.mouse("mouseMoved", *box)
    await page.mouse("mousePressed", *box)
    await page.wait_for("window.aloView.talking", STEP, "the page to start talking")
    lines = await wait_speaker(
        demo,
        lambda lines: any((m := LEVEL.match(line)) and float(m[1]) > HEARD for line in lines),
        f"a talk-back level above {HEARD}",
    )

    await page.mouse("mouseReleased", *box)
    await page.wait_for("!window.aloView.talking", STEP, "the page to stop talking")
    released = len(lines)
    lines = await wait_speaker(
        demo,
        lambda lines: len(lines) > released and lines[-1] == "speaker: silent",
        "the speaker to fall silent after release",
    )
    assert demo.running
