"""`alo-edge demo`: the lab and a synthetic device in one process, as a new user first runs it."""

from __future__ import annotations

import re
import time

import pytest

from tests.helpers import (
    STEP,
    Processes,
    disconnect_is,
    label,
    session_events,
    state_is,
    wait_for_channel,
)

pytestmark = pytest.mark.integration

DURATION = 10.0


def test_demo_connects_streams_and_leaves_cleanly(procs: Processes) -> None:
    started = time.time()
    demo = procs.cli("demo", "--duration", str(DURATION), "--events", "-", name="demo")

    first_line = demo.stderr.wait_line(lambda line: bool(line.strip()), STEP)
    assert first_line is not None, f"demo printed nothing on stderr (exit {demo.popen.poll()})"
    match = re.match(r"lab: (http://127\.0\.0\.1:\d+)\s", first_line)
    assert match, first_line
    lab_url = match.group(1)

    demo.wait_for(state_is("ACQUIRING_ACCESS"), what="ACQUIRING_ACCESS")
    demo.wait_for(state_is("CONNECTING"), what="CONNECTING")
    connected = demo.wait_for(state_is("CONNECTED"), what="CONNECTED")
    assert connected["ts"] - started < 3.0, "CONNECTED came more than 3 s after the start"

    # The lab's fps counts a 5 s window, so 25 fps needs ~4.2 s of steady 30 fps flow.
    report = wait_for_channel(lab_url, "demo", lambda r: r["fps"] >= 25.0, timeout=DURATION - 1)
    assert report["connected"] is True
    assert (report["width"], report["height"]) == (640, 480)
    assert report["audioFrames"] > 0
    frames_seen_live = report["framesDecoded"]

    disconnected = demo.wait_for(state_is("DISCONNECTED"), DURATION + STEP, "DISCONNECTED")
    demo.wait_for(disconnect_is("DISCONNECTED"), what="onDisconnect DISCONNECTED")
    assert demo.wait(STEP) == 0

    events = session_events(demo.events.snapshot())
    assert [label(e) for e in events] == [
        "onConnectionChange:ACQUIRING_ACCESS",
        "onConnectionChange:CONNECTING",
        "onConnectionChange:CONNECTED",
        "onConnectionChange:DISCONNECTED",
        "onDisconnect:DISCONNECTED",
    ]
    assert demo.events.junk == [], "stdout must carry only event JSON lines"
    # --duration is honoured: the session lasted about DURATION seconds.
    assert DURATION - 1 <= disconnected["ts"] - connected["ts"] <= DURATION + 2

    human = [line for line in demo.stderr.lines if line.strip()]
    summary = re.fullmatch(
        r"lab received on channel 'demo': (\d+) video frames, (\d+) audio frames", human[-1]
    )
    assert summary, f"last stderr line: {human[-1]!r}"
    video_frames, audio_frames = int(summary.group(1)), int(summary.group(2))
    assert video_frames >= frames_seen_live
    assert video_frames >= 25 * (DURATION - 2)
    assert audio_frames > 0
