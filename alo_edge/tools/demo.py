"""``alo-edge demo``: the lab and a synthetic device in one process, as a new user first runs it.

The device is the real service (``app.Service``) with a synthetic picture and tone, a
virtual panel on gpiozero's mock pins and a virtual speaker for talk-back (its level is
printed, so Hold-to-talk in the live view shows at once), publishing through the access
step to a lab with throwaway credentials; its tokens come from the lab's OAuth 2.0 token
endpoint. When the session ends it prints what the lab received, so a person sees at once
that media went end to end.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import TextIO

from alo_edge.app import Service
from alo_edge.config import Config
from alo_edge.media.virtual_speaker import LevelLines, VirtualSpeaker
from alo_edge.tools.lab_device import device_config, local_lab

DEMO_CHANNEL = "demo"
DEMO_USER = "demo-device"
#: How often the demo looks at the virtual speaker's level.
SPEAKER_POLL_SECONDS = 0.1


async def run_demo(
    *,
    host: str,
    port: int,
    duration: float | None,
    events: TextIO | None,
    person: TextIO,
) -> None:
    """Run the demo until ``duration`` seconds pass (None: until Ctrl-C or SIGTERM).

    The lab listens on ``host``:``port`` (0: any free port). ``events`` receives every SDK
    event as a JSON line; ``person`` receives the lines meant for a person to read.
    """
    async with local_lab(DEMO_USER, host=host, port=port, prefix="alo-edge-demo-") as device:
        print(
            f"lab: {device.url}  (open it in a browser to see what arrives)",
            file=person,
            flush=True,
        )
        print(
            f"view: {device.url}/view/{DEMO_CHANNEL}  (the live picture, device states, talk-back)",
            file=person,
            flush=True,
        )
        print(
            "talk-back: hold the view's Hold-to-talk; the device plays it on a virtual speaker "
            "whose level shows here",
            file=person,
            flush=True,
        )
        config = demo_config(device.url, device.client_secret_file)
        speaker = VirtualSpeaker()
        meter = asyncio.create_task(show_speaker_level(speaker, person), name="demo speaker")
        try:
            service = Service(
                config, events=events, person=person, duration=duration, speaker=speaker
            )
            await service.run()
        finally:
            meter.cancel()
            await asyncio.gather(meter, return_exceptions=True)
        async with device.client() as lab:
            report = await lab.channel_report(DEMO_CHANNEL)
        print(
            f"lab received on channel {DEMO_CHANNEL!r}: {report.get('framesDecoded', 0)} video "
            f"frames, {report.get('audioFrames', 0)} audio frames",
            file=person,
            flush=True,
        )


async def show_speaker_level(
    speaker: VirtualSpeaker, person: TextIO, interval: float = SPEAKER_POLL_SECONDS
) -> None:
    """Print the virtual speaker's level when talk-back starts, while it lasts, when it ends."""
    lines = LevelLines()
    while True:
        line = lines.update(speaker.level, time.monotonic(), receiving=speaker.frames_played > 0)
        if line is not None:
            print(line, file=person, flush=True)
        await asyncio.sleep(interval)


def demo_config(lab_url: str, client_secret_file: Path) -> Config:
    """The demo's embedded device config: the local lab, synthetic media, loopback only.

    The device fetches and renews its own tokens at the lab's token endpoint
    (``alo.token_url``), as a fleet device does.
    """
    return device_config(
        lab_url,
        None,
        client_secret_file=client_secret_file,
        channel=DEMO_CHANNEL,
        device={"user_id": DEMO_USER, "name": "Demo door", "device_id": "demo-01"},
        video={"source": "synthetic", "width": 640, "height": 480, "fps": 30},
        # Talk-back is offered: the demo plays it on a VirtualSpeaker (no sound card).
        audio={"source": "synthetic", "playback": True},
        # A virtual panel on gpiozero's mock pins; its LED changes are printed.
        gpio={
            "enabled": True,
            "pin_factory": "mock",
            "status_led": 17,
            "rgb_led": [5, 6, 13],
            "mic_led": 22,
            "button": 27,
        },
    )
