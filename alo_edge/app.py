"""The composition root: the only place that chooses real or synthetic parts.

It builds an :class:`AloVideo` from a :class:`Config` (capture devices, speaker,
transports, token), the components that live beside it (systemd, watchdog, panel,
status page ...), runs them until told to stop, and stops them in reverse order.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO

from alo_edge.api import AloVideo, VideoUser
from alo_edge.config import Config, load_config
from alo_edge.errors import ConfigError, ExitCode
from alo_edge.media.alsa import AlsaPlaybackSink, AlsaSource
from alo_edge.media.base import AudioSink, AudioSource, MediaSource
from alo_edge.media.filesource import FileSource
from alo_edge.media.picamera import PicameraSource, check_picamera2
from alo_edge.media.processing import EchoReference, MicPipeline, ProcessingSettings
from alo_edge.media.synthetic import SyntheticAudioSource, SyntheticVideoSource
from alo_edge.media.v4l2 import V4l2Source
from alo_edge.panel import PANEL_LED_EVENT, Panel, led_line
from alo_edge.panel.actions import PANEL_ACTION_EVENT, starts_muted
from alo_edge.session.access import client_secret_path, token_path
from alo_edge.session.backoff import ReconnectPolicy
from alo_edge.session.client_credentials import ClientCredentials, OAuthClient
from alo_edge.session.clock import SystemClock
from alo_edge.session.credentials import Credentials, TokenFileCredentials
from alo_edge.session.view import SessionComponent
from alo_edge.system.audio import SELFTEST_EVENT, AudioLevels, AudioSelfTest
from alo_edge.system.components import (
    EventLineWriter,
    MediaWatchdog,
    SystemdStatus,
    TalkbackSpeaker,
    status_line,
)
from alo_edge.system.conversation import Conversation
from alo_edge.system.health import SourceHealth
from alo_edge.system.netwatch import NetworkWatcher
from alo_edge.system.notify import Notifier
from alo_edge.system.pi_health import PiHealth
from alo_edge.system.rate_status import RateControlStatus
from alo_edge.system.report import StateReporter
from alo_edge.system.status import StatusSection, StatusServer
from alo_edge.system.timesync_watch import TimeSyncWatch
from alo_edge.system.token_status import TokenStatus
from alo_edge.transport.base import Transport
from alo_edge.transport.ice import check_configured_ice_servers, pin_host_addresses
from alo_edge.transport.janus import JanusTransport
from alo_edge.transport.whip import WhipTransport

logger = logging.getLogger(__name__)

#: Every SDK event the service reports on ``--events``.
SDK_EVENTS = (
    "onConnectionChange",
    "onDisconnect",
    "onPublishedStreamChange",
    "onParticipantsChanged",
    "onDeviceListUpdate",
    PANEL_ACTION_EVENT,
    SELFTEST_EVENT,
)


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
            v.width,
            v.height,
            v.fps,
            bitrate=v.bitrate,
            min_bitrate=v.min_bitrate,
            keyframe_interval=v.keyframe_interval,
        )
    if v.source == "v4l2":
        return V4l2Source(v.device, v.width, v.height, v.fps)
    if v.source == "file" and v.file:
        return FileSource(v.file, fallback_fps=v.fps, bitrate=v.bitrate)
    if v.source == "none":
        return None
    raise ConfigError(f"unsupported source {v.source!r}", key="video.source")


def build_mic_pipeline(config: Config) -> MicPipeline | None:
    """The ALSA microphone's processing, or None when there is nothing to process.

    With a speaker (``audio.playback``) it is always there: its reference is what the
    speaker plays, and it measures the levels and runs the self-test even when every
    processing key is off.
    """
    a = config.audio
    processing = a.echo_cancellation_on or a.noise_suppression_on or a.auto_gain_on
    if a.source != "alsa" or not (a.playback or processing):
        return None
    settings = ProcessingSettings(
        echo_cancellation=a.echo_cancellation_on,
        noise_suppression=a.noise_suppression_on,
        auto_gain=a.auto_gain_on,
        half_duplex=a.mode == "half_duplex",
        hang_time=a.half_duplex_hang_time,
        rate=a.rate,
        channels=a.channels,
    )
    reference = EchoReference(a.rate, a.channels) if a.playback else None
    return MicPipeline(settings, reference)


def build_audio_source(config: Config, pipeline: MicPipeline | None = None) -> AudioSource | None:
    """The configured microphone (through ``pipeline``), or None for ``audio.source = "none"``."""
    a = config.audio
    if a.source == "synthetic":
        return SyntheticAudioSource()
    if a.source == "alsa":
        return AlsaSource(a.device, a.rate, a.channels, pipeline=pipeline)
    if config.audio.source == "none":
        return None
    raise ConfigError(f"unsupported source {config.audio.source!r}", key="audio.source")


def build_audio_sink(config: Config, reference: EchoReference | None = None) -> AudioSink | None:
    """The talk-back speaker (``audio.playback``), or None: then no talk-back is offered."""
    a = config.audio
    if not a.playback:
        return None
    return AlsaPlaybackSink(a.playback_device, a.rate, a.channels, reference=reference)


def ice_servers(config: Config) -> list[dict[str, Any]]:
    """``alo.ice_servers`` as WebRTC-style dicts (``urls``, ``username``, ``credential``)."""
    servers: list[dict[str, Any]] = []
    for server in config.alo.ice_servers:
        entry: dict[str, Any] = {"urls": list(server.urls)}
        if server.username is not None:
            entry["username"] = server.username
        if server.credential is not None:
            entry["credential"] = server.credential
        servers.append(entry)
    # The local config may stop the service (exit 78): judged by aiortc's own parser.
    check_configured_ice_servers(servers)
    return servers


def build_transports(config: Config, *, talkback: bool) -> dict[str, Transport]:
    """The transports an access step may choose: WHIP and Janus, as ``config`` sets them.

    ``talkback``: the device has a speaker, so Janus subscribes to the others' voices.
    """
    servers = ice_servers(config)
    liveness = config.reconnect.liveness_timeout
    return {
        "whip": WhipTransport(ice_servers=servers, liveness_timeout=liveness),
        "janus": JanusTransport(
            user_id=config.device.user_id,
            display=config.device.name,
            room=config.alo.janus_room,
            ice_servers=servers,
            talkback=talkback,
            talkback_from=config.audio.talkback_from,
            max_participants=config.alo.max_participants,
            liveness_timeout=liveness,
        ),
    }


def build_credentials(config: Config) -> Credentials:
    """The bearer's source: client credentials at ``alo.token_url``, else the token file.

    Paths are looked up when used: a rotated token, secret or credential heals the device.
    """
    clock = SystemClock()
    alo = config.alo
    if alo.token_url and alo.client_id:
        client = OAuthClient(
            alo.token_url, alo.client_id, lambda: client_secret_path(config), alo.scope
        )
        return ClientCredentials(client, clock, ReconnectPolicy(config.reconnect))
    return TokenFileCredentials.from_path(lambda: token_path(config), clock)


def build_video(
    config: Config,
    pipeline: MicPipeline | None = None,
    credentials: Credentials | None = None,
    *,
    speaker: AudioSink | None = None,
) -> AloVideo:
    """An AloVideo wired from ``config``: sources, speaker, transports, bearer, ICE policy.

    ``pipeline`` (from :func:`build_mic_pipeline`, which runs when it is not given) joins
    the microphone to the speaker's reference; ``credentials`` (from
    :func:`build_credentials`, likewise) is the bearer's source. The service hands the
    same ones to :func:`build_components` for /status and the self-test. ``speaker`` is
    the talk-back sink to use instead of the ALSA one ``audio.playback`` opens (the
    demo's virtual speaker); with it, talk-back is offered.
    """
    if pipeline is None:
        pipeline = build_mic_pipeline(config)
    reference = pipeline.reference if pipeline is not None else None
    pin_host_addresses(config.network.host_addresses)
    user = VideoUser(config.device.user_id, config.device.name, config.device.device_id)
    sink = build_audio_sink(config, reference) if speaker is None else speaker
    return AloVideo(
        user,
        credentials or build_credentials(config),
        config=config,
        video_source=build_video_source(config),
        audio_source=build_audio_source(config, pipeline),
        audio_sink=sink,
        transports=build_transports(config, talkback=sink is not None),
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
        speaker: AudioSink | None = None,
    ) -> None:
        self.config = config
        self._speaker = speaker
        self._config_path = config_path
        self._events = events
        self._person = person
        self._notifier = notifier or Notifier()
        self._duration = duration
        self._stop = asyncio.Event()
        self._reload = asyncio.Event()
        self._exit_code: int = ExitCode.OK

    def request_stop(self, exit_code: int = ExitCode.OK) -> None:
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
        pipeline = build_mic_pipeline(config)
        credentials = build_credentials(config)
        video = build_video(config, pipeline, credentials, speaker=self._speaker)
        if self._person is not None:
            video.events.add_event_listener(
                "onConnectionChange", lambda e: _print_line(self._person, status_line(e.detail))
            )
            video.events.add_event_listener(
                PANEL_LED_EVENT, lambda e: _print_line(self._person, led_line(e.detail))
            )
        if starts_muted(config.audio.mode):
            await video.set_muted(True)
        components = build_components(
            config,
            self._notifier,
            request_stop=self.request_stop,
            pipeline=pipeline,
            credentials=credentials,
        )
        if self._events is not None:
            # First in, last out: it also writes what the other parts announce at start and stop.
            components.insert(0, EventLineWriter(self._events, SDK_EVENTS))
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
    pipeline: MicPipeline | None = None,
    credentials: Credentials | None = None,
) -> list[SessionComponent]:
    """The parts that live beside the session, in start order.

    ``request_stop(exit_code)`` ends the service; the panel's restart gesture uses it.
    ``pipeline``: the microphone's processing, reported in /status and self-tested.
    ``credentials``: the session's bearer source, whose expiry /status and /metrics show.
    """
    health = SourceHealth()
    # A Pi has no real-time clock: until NTP has set it, STATUS= and /status say so.
    clock = TimeSyncWatch()
    systemd_status = SystemdStatus(notifier, note=clock.note)
    clock.on_change = systemd_status.refresh
    pi = PiHealth(camera_restarts=lambda: health.restarts_by_kind.get("video", 0))
    talk = Conversation(config.audio.mode)
    components: list[SessionComponent] = [systemd_status, health, clock, pi, talk]
    # A network coming back (new address or default route) cuts a backoff wait short.
    components.append(NetworkWatcher())
    if config.gpio.enabled:
        components.append(build_panel(config, request_stop=request_stop))
    interval = notifier.watchdog_interval()
    if interval is not None:
        components.append(MediaWatchdog(notifier, interval, time.monotonic))
    # Talk-back's speaker, the local status/metrics endpoint, and state reports to a
    # server that asks for them (the lab's live view shows them).
    components += [
        TalkbackSpeaker(),
        StateReporter(allow_insecure=config.network.allow_insecure),
    ]
    sections: list[StatusSection] = [health, clock, pi, talk]
    if pipeline is not None:
        levels = AudioLevels(pipeline, config.audio.mode)
        components.append(levels)
        sections.append(levels)
        if config.audio.selftest and pipeline.reference is not None:
            # After the speaker (TalkbackSpeaker opens it): the sweep plays through it.
            selftest = AudioSelfTest(pipeline, config.audio.selftest_interval)
            components.append(selftest)
            sections.append(selftest)
    if config.status.listen.enabled:
        if credentials is not None:
            sections.append(TokenStatus(credentials))
        # The passthrough video's rate control (target, loss, RTT) reports there too.
        rate = RateControlStatus()
        sections.append(rate)
        components += [rate, StatusServer(config, sections=sections)]
    return components


def build_panel(
    config: Config,
    *,
    request_stop: Callable[[int], None] | None = None,
    pin_factory: Any | None = None,
) -> Panel:
    """The LEDs and button from ``config.gpio``; its pin factory opens at ``start``.

    ``pin_factory`` replaces ``gpio.pin_factory`` (the bench and tests pass a prepared
    MockFactory). The restart gesture ends the service with ExitCode.RESTART.
    """

    def request_restart() -> None:
        logger.warning("restart requested from the panel button; exiting %d", ExitCode.RESTART)
        if request_stop is not None:
            request_stop(ExitCode.RESTART)

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
