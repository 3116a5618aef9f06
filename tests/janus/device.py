"""A device for the Janus tests that need the API beyond ``alo-edge run``: local mutes.

Built by the real composition root (``app.build_video``) with the real talk-back
speaker component, writing every SDK event as a JSON line on stdout like ``--events -``.
SIGUSR1 mutes every remote participant on this device's speaker, SIGUSR2 unmutes
them, SIGTERM leaves the room and exits. Run inside the test's namespace::

    python -m tests.janus.device CONFIG
"""

from __future__ import annotations

import asyncio
import logging
import signal
import sys

from alo_edge.app import SDK_EVENTS, build_video
from alo_edge.config import load_config
from alo_edge.system.components import EventLineWriter, TalkbackSpeaker


async def main(config_path: str) -> int:
    config = load_config(config_path)
    video = build_video(config)
    writer = EventLineWriter(sys.stdout, SDK_EVENTS)
    await writer.start(video)
    speaker = TalkbackSpeaker()
    await speaker.start(video)
    stop = asyncio.Event()
    pending: set[asyncio.Task[None]] = set()

    async def mute_all(muted: bool) -> None:
        for participant in video.participants:
            if not participant.is_current_user:
                await video.set_participant_muted(participant.id, muted)

    def on_signal(muted: bool) -> None:
        task = asyncio.create_task(mute_all(muted))
        pending.add(task)
        task.add_done_callback(pending.discard)

    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGUSR1, on_signal, True)
    loop.add_signal_handler(signal.SIGUSR2, on_signal, False)
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    await video.connect(config.alo.channel)
    try:
        await stop.wait()
    finally:
        await asyncio.gather(*pending, return_exceptions=True)
        await video.disconnect()
        await speaker.stop()
        await writer.stop()
        for source in video.media_sources:
            source.stop()
    return 0


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, stream=sys.stderr)
    sys.exit(asyncio.run(main(sys.argv[1])))
