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
from pathlib import Path
from typing import Any, Protocol, TextIO

from alo_edge.api import AloVideo, VideoUser
from alo_edge.config import Config, load_config
from alo_edge.errors import ConfigError
from alo_edge.events import Event
from alo_edge.media.alsa import AlsaPlaybackSink, AlsaSource
from alo_edge.media.base import AudioSink, MediaSource
from alo_edge.media.filesource import FileSource
from alo_edge.media.health import SourceHealth
from alo_edge.media.picamera import PicameraSource, check_picamera2
from alo_edge.media.synthetic import SyntheticAudioSource, SyntheticVideoSource
from alo_edge.media.talkback import TalkbackSpeaker
from alo_edge.media.v4l2 import V4l2Source
from alo_edge.panel import PANEL_LED_EVENT, Panel, led_line
from alo_edge.panel.actions import PANEL_ACTION_EVENT, starts_muted
from alo_edge.session.access import read_token, token_path
from alo_edge.session.report import StateReporter
from alo_edge.system.netwatch import NetworkWatcher
from alo_edge.system.notify import Notifier, WatchdogPinger
from alo_edge.system.status import StatusServer
from alo_edge.transport.ice import pin_host_addresses

logger = logging.getLogger(__name__)

#: Every SDK event the service reports on ``--events``.
SDK_EVENTS = (
    "onConnectionChange",
    "onDisconnect",
    "onPublishedStreamChange",
    "onParticipantsChanged",
    "onDeviceListUpdate",
    PANEL_ACTION_EVENT,
)
#: EX_TEMPFAIL: a person asked for a restart from the panel; systemd's Restart= restarts us.
EXIT_RESTART = 75
#: A published source silent this long while connected counts as wedged (watchdog).
FRAME_STALL_SECONDS = 3.0


def build_video_source(config: Config) -> MediaSource | None:
    """The configured camera, or None for ``video.source = "none"``.

    A camera whose driver library is missing is a HardwareError here, at startup (exit
    69); the device itself opens when the session connects.
    """
    v = config.video
    if v.source == "synthetic":
        return SyntheticVideoSource(v.width, v.height, v.fps)
    if v.source == "picamera2":
        check_picamera2()
        return PicameraSource(
            v.width, v.height, v.fps, bitrate=v.bitrate, keyframe_interval=v.keyframe_interval
        )
    if v.source == "v4l2":
        return V4l2Source(v.device, v.width, v.height, v.fps)
    if v.source == "file" and v.file:
        return FileSource(v.file, fallback_fps=v.fps)
    if v.source == "none":
        return None
    raise ConfigError(f"unsupported source {v.source!r}", key="video.source")


def build_audio_source(config: Config) -> MediaSource | None:
    """The configured microphone, or None for ``audio.source = "none"``."""
    a = config.audio
    if a.source == "synthetic":
        return SyntheticAudioSource()
    if a.source == "alsa":
        return AlsaSource(a.device, a.rate, a.channels)
    if config.audio.source == "none":
        return None
    raise ConfigError(f"unsupported source {config.audio.source!r}", key="audio.source")


def build_audio_sink(config: Config) -> AudioSink | None:
    """The talk-back speaker (``audio.playback``), or None: then no talk-back is offered."""
    a = config.audio
    if not a.playback:
        return None
    return AlsaPlaybackSink(a.playback_device, a.rate, a.channels)


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
        audio_sink=build_audio_sink(config),
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


class SessionComponent(Protocol):
    """Something that lives beside a session: the panel, the watchdog, systemd's STATUS."""

    async def start(self, video: AloVideo) -> None: ...

    async def stop(self) -> None: ...


class SystemdStatus:
    """Mirrors every connection state into systemd's STATUS= line."""

    def __init__(self, notifier: Notifier) -> None:
        self._notifier = notifier

    async def start(self, video: AloVideo) -> None:
        video.events.add_event_listener("onConnectionChange", self._show)

    async def stop(self) -> None:
        return None

    def _show(self, event: Event) -> None:
        self._notifier.status(status_line(event.detail))


def status_line(detail: dict[str, Any]) -> str:
    """One line for a person (systemd STATUS=, the demo): state, and why or when next."""
    line = f"{detail['state']}: {detail.get('stateMessage', '')}"
    if "message" in detail:
        line += f" ({detail['message']})"
    if "pendingRestartSeconds" in detail:
        line += f", next attempt in {detail['pendingRestartSeconds']} s"
        line += f" (retry {detail.get('retryCount', 0)})"
    return line


class MediaWatchdog:
    """WATCHDOG=1 pings while the loop runs and, when connected, media frames flow."""

    def __init__(self, notifier: Notifier, interval: float, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._video: AloVideo | None = None
        self._pinger = WatchdogPinger(notifier, interval, self.media_flowing)

    async def start(self, video: AloVideo) -> None:
        self._video = video
        await self._pinger.start()

    async def stop(self) -> None:
        await self._pinger.stop()

    def media_flowing(self) -> bool:
        """False when a published source has produced no frame for FRAME_STALL_SECONDS."""
        video = self._video
        if video is None or video.connection_state != AloVideo.CONNECTION_STATUS_CONNECTED:
            return True  # nothing pulls frames while not connected
        now = self._clock()
        return all(
            (source.last_frame_at or video.connected_at or now) > now - FRAME_STALL_SECONDS
            for source in video.published_sources
        )


class Service:
    """The device service: builds the session from config, runs it until SIGTERM/SIGINT.

    SIGHUP reloads the config file: a valid new config replaces the session, an
    invalid one is logged and the running session kept. systemd hears READY once the
    first session is built, STATUS on every state, WATCHDOG while healthy, STOPPING.
    """

    def __init__(
        self,
        config: Config,
        *,
        config_path: Path | None = None,
        events: TextIO | None = None,
        person: TextIO | None = None,
        notifier: Notifier | None = None,
        duration: float | None = None,
    ) -> None:
        self.config = config
        self._config_path = config_path
        self._events = events
        self._person = person
        self._notifier = notifier or Notifier()
        self._duration = duration
        self._stop = asyncio.Event()
        self._reload = asyncio.Event()
        self._exit_code = 0

    def request_stop(self, exit_code: int = 0) -> None:
        """Leave the channel and end :meth:`run` with ``exit_code``."""
        self._exit_code = exit_code
        self._stop.set()

    async def run(self) -> int:
        """Run until stopped; returns the exit code. Fatal session errors propagate."""
        loop = asyncio.get_running_loop()
        handlers: dict[signal.Signals, Callable[[], None]] = {
            signal.SIGTERM: self.request_stop,
            signal.SIGINT: self.request_stop,
            signal.SIGHUP: self._reload.set,
        }
        timer = None if self._duration is None else loop.call_later(self._duration, self._stop.set)
        session: tuple[AloVideo, list[SessionComponent]] | None = None
        try:
            for signum, handler in handlers.items():
                loop.add_signal_handler(signum, handler)
            session = await self._start_session(self.config)
            self._notifier.ready(f"{session[0].connection_state}: starting")
            while not self._stop.is_set():
                await self._wait_for_signal(session[0])
                if self._reload.is_set():
                    self._reload.clear()
                    new_config = self._reread_config()
                    if new_config == self.config:
                        logger.info("SIGHUP: configuration unchanged")
                    elif new_config is not None:
                        self._notifier.reloading()
                        old, session = session, None
                        await self._stop_session(*old)
                        self.config = new_config
                        session = await self._start_session(new_config)
                        logger.info("configuration reloaded; session restarted")
                    self._notifier.ready(f"{session[0].connection_state}: running")
        finally:
            if timer is not None:
                timer.cancel()
            self._notifier.stopping()
            if session is not None:
                await self._stop_session(*session)
            for signum in handlers:
                loop.remove_signal_handler(signum)
        return self._exit_code

    async def _wait_for_signal(self, video: AloVideo) -> None:
        supervisor = video.supervisor_task
        assert supervisor is not None
        waiters = [asyncio.ensure_future(e.wait()) for e in (self._stop, self._reload)]
        try:
            await asyncio.wait({supervisor, *waiters}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waiters:
                waiter.cancel()
            await asyncio.gather(*waiters, return_exceptions=True)
        if supervisor.done():
            # Only a fatal error ends the keep-alive loop: it needs a person.
            supervisor.result()

    def _reread_config(self) -> Config | None:
        if self._config_path is None:
            logger.warning("SIGHUP ignored: this service was not started from a config file")
            return None
        try:
            return load_config(self._config_path)
        except ConfigError as exc:
            logger.error("reload refused, keeping the running config: %s", exc)
            return None

    async def _start_session(self, config: Config) -> tuple[AloVideo, list[SessionComponent]]:
        video = build_video(config)
        if self._events is not None:
            EventLineWriter(self._events).attach(video)
        if self._person is not None:
            video.events.add_event_listener(
                "onConnectionChange", lambda e: _print_line(self._person, status_line(e.detail))
            )
            video.events.add_event_listener(
                PANEL_LED_EVENT, lambda e: _print_line(self._person, led_line(e.detail))
            )
        if starts_muted(config.audio.mode):
            await video.set_muted(True)
        components = build_components(config, self._notifier, request_stop=self.request_stop)
        started: list[SessionComponent] = []
        try:
            for component in components:
                await component.start(video)
                started.append(component)
            await video.connect(config.alo.channel)
        except BaseException:
            # A part that failed to start (a taken GPIO pin...) must not leak the others.
            await self._stop_session(video, started)
            raise
        return video, components

    async def _stop_session(self, video: AloVideo, components: list[SessionComponent]) -> None:
        await video.disconnect()
        for component in reversed(components):
            await component.stop()
        for source in video.media_sources:
            source.stop()


def build_components(
    config: Config,
    notifier: Notifier,
    *,
    request_stop: Callable[[int], None] | None = None,
) -> list[SessionComponent]:
    """The parts that live beside the session, in start order.

    ``request_stop(exit_code)`` ends the service; the panel's restart gesture uses it.
    """
    components: list[SessionComponent] = [SystemdStatus(notifier), SourceHealth()]
    # A network coming back (new address or default route) cuts a backoff wait short.
    components.append(NetworkWatcher())
    if config.gpio.enabled:
        components.append(build_panel(config, request_stop=request_stop))
    interval = notifier.watchdog_interval()
    if interval is not None:
        components.append(MediaWatchdog(notifier, interval, time.monotonic))
    # Talk-back's speaker, the local status/metrics endpoint, and state reports to a
    # server that asks for them (the lab's live view shows them).
    components += [TalkbackSpeaker(), StateReporter()]
    if config.status.listen:
        components.append(StatusServer(config))
    return components


def build_panel(
    config: Config,
    *,
    request_stop: Callable[[int], None] | None = None,
    pin_factory: Any | None = None,
) -> Panel:
    """The LEDs and button from ``config.gpio``; its pin factory opens at ``start``.

    ``pin_factory`` replaces ``gpio.pin_factory`` (the bench and tests pass a prepared
    MockFactory). The restart gesture ends the service with EXIT_RESTART.
    """

    def request_restart() -> None:
        logger.warning("restart requested from the panel button; exiting %d", EXIT_RESTART)
        if request_stop is not None:
            request_stop(EXIT_RESTART)

    return Panel(
        config.gpio,
        audio_mode=config.audio.mode,
        request_restart=request_restart,
        pin_factory=pin_factory,
    )


def _print_line(stream: TextIO | None, line: str) -> None:
    if stream is not None:
        print(line, file=stream, flush=True)


def install_stop_signals(stop: asyncio.Event) -> Callable[[], None]:
    """SIGTERM and SIGINT set ``stop``; returns a function that removes the handlers."""
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)

    def remove() -> None:
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(signum)

    return remove
