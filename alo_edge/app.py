"""The composition root: the only place that chooses real or synthetic parts.

It builds an :class:`AloVideo` from a :class:`Config`, runs it until told to stop,
and wires the service's outputs (the ``--events`` JSON lines).
"""

from __future__ import annotations

import asyncio
import json
import logging
import signal
import time
from collections.abc import Callable
from typing import TextIO

from alo_edge.api import AloVideo, VideoUser
from alo_edge.config import Config
from alo_edge.errors import ConfigError
from alo_edge.events import Event
from alo_edge.media.base import MediaSource
from alo_edge.media.synthetic import SyntheticAudioSource, SyntheticVideoSource
from alo_edge.session.access import read_token, token_path
from alo_edge.transport.ice import pin_host_addresses

logger = logging.getLogger(__name__)

#: Every SDK event the service reports on ``--events``.
SDK_EVENTS = ("onConnectionChange", "onDisconnect")


def build_video_source(config: Config) -> MediaSource | None:
    """The configured camera, or None for ``video.source = "none"``."""
    v = config.video
    if v.source == "synthetic":
        return SyntheticVideoSource(v.width, v.height, v.fps)
    if v.source == "none":
        return None
    raise ConfigError(f"unsupported source {v.source!r}", key="video.source")


def build_audio_source(config: Config) -> MediaSource | None:
    """The configured microphone, or None for ``audio.source = "none"``."""
    if config.audio.source == "synthetic":
        return SyntheticAudioSource()
    if config.audio.source == "none":
        return None
    raise ConfigError(f"unsupported source {config.audio.source!r}", key="audio.source")


def build_video(config: Config) -> AloVideo:
    """An AloVideo wired from ``config``: sources, token file, ICE policy."""
    pin_host_addresses(config.network.host_addresses)
    user = VideoUser(config.device.user_id, config.device.name, config.device.device_id)

    def token_provider() -> str:
        # Looked up on every attempt: a rotated token or credential heals the device.
        return read_token(token_path(config))

    return AloVideo(
        user,
        token_provider,
        config=config,
        video_source=build_video_source(config),
        audio_source=build_audio_source(config),
    )


class EventLineWriter:
    """Writes each SDK event as one JSON line ``{"ts", "event", "detail"}`` and flushes."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream

    def attach(self, video: AloVideo) -> None:
        for name in SDK_EVENTS:
            video.events.add_event_listener(name, self.write)

    def write(self, event: Event) -> None:
        line = {"ts": round(time.time(), 3), "event": event.type, "detail": event.detail}
        self._stream.write(json.dumps(line) + "\n")
        self._stream.flush()


async def run_until_stopped(video: AloVideo, channel: str, *, stop: asyncio.Event) -> None:
    """Connect, keep the session alive until ``stop`` is set, then leave the channel.

    A fatal error inside the session (it needs a person) propagates to the caller.
    """
    await video.connect(channel)
    supervisor = video.supervisor_task
    assert supervisor is not None
    stopper = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({supervisor, stopper}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopper.cancel()
        failure = supervisor.exception() if supervisor.done() else None
        await video.disconnect()
        for source in video.media_sources:
            source.stop()
    if failure is not None:
        raise failure


def install_stop_signals(stop: asyncio.Event) -> Callable[[], None]:
    """SIGTERM and SIGINT set ``stop``; returns a function that removes the handlers."""
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)

    def remove() -> None:
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(signum)

    return remove
