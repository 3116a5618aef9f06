"""The device's local status endpoint: ``GET /status`` (JSON) and ``GET /metrics``.

An installer asks ``alo-edge status`` (which reads ``/status``); a fleet owner points
the Prometheus they already run at ``/metrics``. Both read one :class:`StatusTracker`,
which follows the session's ``onConnectionChange`` events and, once a second, the
live connection's sender statistics (bytes sent, round-trip time from the far end's
RTCP receiver reports). It binds ``status.listen`` (127.0.0.1 by default: there is no
auth, so it is not for an open network); an empty ``listen`` turns it off.

Parts beside the session that have something to report (source health today) are
each a :class:`StatusSection` that adds one key to ``/status`` and its own metrics, so
the tracker does not grow a branch for every part.

A port that cannot be bound is logged and skipped: a door intercom without its
status page is still a door intercom. The server takes at most
:data:`MAX_CONNECTIONS` connections at once, each closed after :data:`REQUEST_DEADLINE`
(:mod:`.http_guard`), and a ``listen`` beyond loopback is warned about at start.

Metrics (a dedicated registry per service, never prometheus-client's global one)::

    alo_edge_info{version, channel, transport, device_id}          info
    alo_edge_connection_state{alo_edge_connection_state="..."}    state set
    alo_edge_connections_total / _reconnects_total / _connection_errors_total
    alo_edge_retry_count, alo_edge_uptime_seconds, alo_edge_state_since_seconds
    alo_edge_frames_sent_total{kind}, alo_edge_bytes_sent_total{kind},
    alo_edge_packets_sent_total{kind}, alo_edge_bitrate_bits_per_second{kind},
    alo_edge_round_trip_time_seconds{kind}
    alo_edge_last_error_info{kind}, alo_edge_last_error_timestamp_seconds

The last error's message is in ``/status`` only: as a label its values would be
unbounded (every message a new time series), so the metric carries its ``kind``, one
word of :data:`~alo_edge.errors.ERROR_KINDS` (``none`` before any error).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from aiohttp import web
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    InfoMetricFamily,
    Metric,
    StateSetMetricFamily,
)
from prometheus_client.registry import Collector

from alo_edge import __version__
from alo_edge.config import Config, Listen
from alo_edge.events import Event
from alo_edge.session.states import ConnectionState
from alo_edge.session.view import SessionView
from alo_edge.system.http_guard import BoundedServer
from alo_edge.transport.base import Connection, OutboundStats

logger = logging.getLogger(__name__)

SAMPLE_INTERVAL = 1.0
#: Connections the status endpoint holds at once (a scraper, a person, a spare few).
MAX_CONNECTIONS = 16
#: Seconds a connection may take to send its request and receive the answer.
REQUEST_DEADLINE = 5.0
#: The text exposition format generate_latest() writes.
METRICS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
#: When this process started (uptime is the service's, not one session's).
_PROCESS_STARTED = time.monotonic()
_STATES = [state.value for state in ConnectionState]


class StatusSection(Protocol):
    """A part beside the session that reports in ``/status`` (one key) and ``/metrics``."""

    @property
    def status_key(self) -> str:
        """Its key in the ``/status`` document (camelCase, as ALO spells keys)."""
        ...

    def status(self) -> dict[str, Any]:
        """Its part of ``/status`` now."""
        ...

    def metrics(self) -> Iterable[Metric]:
        """Its metric families now (names start with ``alo_edge_``)."""
        ...


@dataclass
class _KindCounters:
    """Per media kind: totals across connections and the latest rates."""

    bytes_base: int = 0  # sent on connections that are gone
    packets_base: int = 0
    bytes_now: int = 0  # sent on the current connection
    packets_now: int = 0
    bitrate: float = 0.0
    round_trip_time: float | None = None


@dataclass
class StatusTracker:
    """Everything /status and /metrics report, kept up to date from the session.

    ``clock`` is monotonic seconds and ``wall`` epoch seconds (injectable for tests).
    """

    config: Config
    clock: Callable[[], float] = time.monotonic
    wall: Callable[[], float] = time.time
    state: str = ConnectionState.NOT_CONNECTED.value
    since_wall: float = field(default_factory=time.time)
    retry_count: int = 0
    pending_restart_seconds: int | None = None
    connections: int = 0
    reconnects: int = 0
    errors: int = 0
    last_error: str | None = None
    last_error_kind: str | None = None
    last_error_at: float | None = None
    session: SessionView | None = None
    kinds: dict[str, _KindCounters] = field(default_factory=dict)
    measured_fps: dict[str, float] = field(default_factory=dict)
    _attempts: int = 0
    _frames_at: tuple[float, dict[str, int]] | None = None
    _connection: Connection | None = None
    _sampled_at: float | None = None

    def on_connection_change(self, event: Event) -> None:
        """Follow ``onConnectionChange``: state and since, retries, countdown, errors."""
        detail = event.detail
        state = str(detail.get("state"))
        if state != self.state:
            self.state = state
            self.since_wall = self.wall()
            if state == ConnectionState.ACQUIRING_ACCESS.value:
                self._attempts += 1
                if self._attempts > 1:
                    self.reconnects += 1
            elif state == ConnectionState.CONNECTED.value:
                self.connections += 1
                self.retry_count = 0
            elif state == ConnectionState.ERROR.value:
                self.errors += 1
                self.last_error = str(detail.get("message", ""))
                cause = self.session.last_error if self.session is not None else None
                self.last_error_kind = cause.kind if cause is not None else "other"
                self.last_error_at = self.wall()
            elif state == ConnectionState.DISCONNECTED.value:
                self._attempts = 0  # a later connect() starts a new session
        if isinstance(detail.get("retryCount"), int):
            self.retry_count = detail["retryCount"]
        pending = detail.get("pendingRestartSeconds")
        self.pending_restart_seconds = pending if isinstance(pending, int) else None

    def record_outbound(self, connection: Connection, stats: list[OutboundStats]) -> None:
        """Fold one sample of the live connection's sender stats into the totals."""
        now = self.clock()
        if connection is not self._connection:
            # A new peer connection counts from zero: bank what the old one sent.
            for counters in self.kinds.values():
                counters.bytes_base += counters.bytes_now
                counters.packets_base += counters.packets_now
                counters.bytes_now = counters.packets_now = 0
                counters.bitrate = 0.0
                counters.round_trip_time = None
            self._connection = connection
            self._sampled_at = None
        elapsed = None if self._sampled_at is None else now - self._sampled_at
        for sample in stats:
            counters = self.kinds.setdefault(sample.kind, _KindCounters())
            if elapsed:
                counters.bitrate = max(sample.bytes_sent - counters.bytes_now, 0) * 8 / elapsed
            counters.bytes_now = sample.bytes_sent
            counters.packets_now = sample.packets_sent
            counters.round_trip_time = sample.round_trip_time
        self._sampled_at = now

    def sample_frames(self) -> None:
        """Measure each source's frames per second since the previous sample."""
        now, frames = self.clock(), self.frames_sent()
        if self._frames_at is not None:
            then, before = self._frames_at
            if now > then:
                self.measured_fps = {
                    kind: max(count - before.get(kind, count), 0) / (now - then)
                    for kind, count in frames.items()
                }
        self._frames_at = (now, frames)

    def frames_sent(self) -> dict[str, int]:
        """Frames each published source's track handed to its sender (where it counts)."""
        sources = self.session.media_sources if self.session is not None else []
        return {source.kind: source.frames_sent for source in sources}

    def _fps(self, kind: str) -> float | None:
        fps = self.measured_fps.get(kind)
        return None if fps is None else round(fps, 1)

    def _media(self, kind: str) -> dict[str, Any]:
        session = self.session
        sources = session.media_sources if session is not None else []
        source = next((s for s in sources if s.kind == kind), None)
        published = session is not None and source in session.published_sources
        configured = self.config.video.source if kind == "video" else self.config.audio.source
        entry: dict[str, Any] = {
            "source": configured,
            "device": source.device_id if source is not None else None,
            "sending": published and self.state == ConnectionState.CONNECTED.value,
            "framesSent": self.frames_sent().get(kind),
        }
        counters = self.kinds.get(kind)
        entry["bitrate"] = round(counters.bitrate) if counters else None
        entry["roundTripTime"] = counters.round_trip_time if counters else None
        entry["measuredFps"] = self._fps(kind)
        if kind == "video":
            v = self.config.video
            entry.update(width=v.width, height=v.height, fps=v.fps)
        else:
            entry["muted"] = bool(session and session.muted)
            talkback = session.talkback if session else None
            entry["talkback"] = talkback is not None
            if talkback is not None:
                entry["talkbackFramesPlayed"] = talkback.frames_played
        return entry

    def status(self) -> dict[str, Any]:
        """The ``GET /status`` document (ALO's key spelling where ALO has one)."""
        return {
            "state": self.state,
            "since": _iso(self.since_wall),
            "retryCount": self.retry_count,
            "pendingRestartSeconds": self.pending_restart_seconds,
            "lastError": self.last_error,
            "lastErrorKind": self.last_error_kind,
            "lastErrorAt": _iso(self.last_error_at) if self.last_error_at else None,
            "channel": self.config.alo.channel,
            "transport": self.config.alo.transport,
            "device": {
                "userId": self.config.device.user_id,
                "name": self.config.device.name,
                "deviceId": self.config.device.device_id,
            },
            "video": self._media("video"),
            "audio": self._media("audio"),
            "connections": self.connections,
            "reconnects": self.reconnects,
            "uptime": round(self.clock() - _PROCESS_STARTED, 1),
            "version": __version__,
        }


class _TrackerCollector(Collector):
    """Reads the tracker at scrape time, so a scrape never sees half an update."""

    def __init__(self, tracker: StatusTracker, sections: Sequence[StatusSection]) -> None:
        self._tracker = tracker
        self._sections = sections

    def collect(self) -> Iterator[Metric]:
        t = self._tracker
        info = InfoMetricFamily("alo_edge", "The device and what it publishes to")
        info.add_metric(
            [],
            {
                "version": __version__,
                "channel": t.config.alo.channel,
                "transport": t.config.alo.transport,
                "device_id": t.config.device.device_id,
            },
        )
        yield info
        yield StateSetMetricFamily(
            "alo_edge_connection_state",
            "The session's connection state (ALO's CONNECTION_STATUS_* values)",
            value={state: state == t.state for state in _STATES},
        )
        yield GaugeMetricFamily(
            "alo_edge_state_since_seconds",
            "When the current state began (epoch seconds)",
            value=t.since_wall,
        )
        yield GaugeMetricFamily(
            "alo_edge_retry_count", "Consecutive failed attempts (ALO's retryCount)", t.retry_count
        )
        yield CounterMetricFamily(
            "alo_edge_connections", "Times the session became CONNECTED", value=t.connections
        )
        yield CounterMetricFamily(
            "alo_edge_reconnects", "Connection attempts after the first", value=t.reconnects
        )
        yield CounterMetricFamily(
            "alo_edge_connection_errors", "Times the session went to ERROR", value=t.errors
        )
        yield GaugeMetricFamily(
            "alo_edge_uptime_seconds",
            "Seconds since the service started",
            value=t.clock() - _PROCESS_STARTED,
        )
        frames = CounterMetricFamily(
            "alo_edge_frames_sent", "Frames the sources handed to the senders", labels=["kind"]
        )
        for kind, count in sorted(t.frames_sent().items()):
            frames.add_metric([kind], count)
        yield frames
        sent = CounterMetricFamily("alo_edge_bytes_sent", "RTP payload bytes sent", labels=["kind"])
        packets = CounterMetricFamily("alo_edge_packets_sent", "RTP packets sent", labels=["kind"])
        bitrate = GaugeMetricFamily(
            "alo_edge_bitrate_bits_per_second", "Send bitrate over the last second", labels=["kind"]
        )
        rtt = GaugeMetricFamily(
            "alo_edge_round_trip_time_seconds",
            "Round-trip time from the far end's last RTCP receiver report",
            labels=["kind"],
        )
        for kind, c in sorted(t.kinds.items()):
            sent.add_metric([kind], c.bytes_base + c.bytes_now)
            packets.add_metric([kind], c.packets_base + c.packets_now)
            bitrate.add_metric([kind], c.bitrate)
            if c.round_trip_time is not None:
                rtt.add_metric([kind], c.round_trip_time)
        yield from (sent, packets, bitrate, rtt)
        error = InfoMetricFamily(
            "alo_edge_last_error", "What the last connection error was (its message: /status)"
        )
        error.add_metric([], {"kind": t.last_error_kind or "none"})
        yield error
        if t.last_error_at is not None:
            yield GaugeMetricFamily(
                "alo_edge_last_error_timestamp_seconds",
                "When the last connection error happened (epoch seconds)",
                value=t.last_error_at,
            )
        for section in self._sections:
            yield from section.metrics()


class StatusServer:
    """The session component serving /status and /metrics on ``status.listen``."""

    def __init__(
        self,
        config: Config,
        listen: Listen | None = None,
        sections: Sequence[StatusSection] = (),
        *,
        max_connections: int = MAX_CONNECTIONS,
        request_deadline: float = REQUEST_DEADLINE,
    ) -> None:
        self.tracker = StatusTracker(config)
        self.sections = tuple(sections)
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(_TrackerCollector(self.tracker, self.sections))
        self._listen = config.status.listen if listen is None else listen
        self._runner: web.AppRunner | None = None
        self._server: asyncio.Server | None = None
        self._max_connections = max_connections
        self._request_deadline = request_deadline
        #: The connection bounds while listening (their counters show refusals).
        self.guard: BoundedServer | None = None
        self._sampler: asyncio.Task[None] | None = None
        self.url: str | None = None

    async def start(self, session: SessionView) -> None:
        """Follow ``session`` and listen (a busy port is logged, not fatal)."""
        self.tracker.session = session
        session.events.add_event_listener("onConnectionChange", self.tracker.on_connection_change)
        self._sampler = asyncio.create_task(self._sample(session), name="alo-edge status sampler")
        if not self._listen.enabled:
            return
        host, port = self._listen.host, self._listen.port
        if not self._listen.loopback:
            logger.warning(
                "status endpoint listens on %s, beyond loopback: /status and /metrics have "
                "no auth, so anyone who can reach it reads the device's state (set "
                "status.listen to 127.0.0.1:PORT unless the network is trusted)",
                self._listen,
            )
        app = web.Application()
        app.router.add_get("/status", self._status)
        app.router.add_get("/metrics", self._metrics)
        runner = web.AppRunner(
            app, access_log=None, shutdown_timeout=1.0, keepalive_timeout=self._request_deadline
        )
        await runner.setup()
        assert runner.server is not None
        guard = BoundedServer(
            runner.server,
            max_connections=self._max_connections,
            deadline=self._request_deadline,
        )
        try:
            server = await asyncio.get_running_loop().create_server(
                guard, host, port, reuse_address=True
            )
        except OSError as exc:
            await runner.cleanup()
            logger.error(
                "status endpoint not available: cannot listen on %s: %s", self._listen, exc
            )
            return
        self._runner, self._server, self.guard = runner, server, guard
        bound_host, bound_port = server.sockets[0].getsockname()[:2]
        shown = f"[{bound_host}]" if ":" in bound_host else bound_host
        self.url = f"http://{shown}:{bound_port}"
        logger.info("status endpoint on %s/status and %s/metrics", self.url, self.url)

    async def stop(self) -> None:
        """Stop sampling and listening."""
        session, self.tracker.session = self.tracker.session, None
        if session is not None:
            session.events.remove_event_listener(
                "onConnectionChange", self.tracker.on_connection_change
            )
        sampler, self._sampler = self._sampler, None
        if sampler is not None:
            sampler.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sampler
        server, self._server = self._server, None
        if server is not None:
            server.close()
        if self.guard is not None:
            self.guard.close_all()
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()
        if server is not None:
            await server.wait_closed()  # 3.12+ waits for the connections closed above
        self.url = None

    async def _sample(self, session: SessionView) -> None:
        while True:
            self.tracker.sample_frames()
            connection = session.connection
            if connection is not None:
                try:
                    self.tracker.record_outbound(connection, await connection.outbound_stats())
                except Exception as exc:  # a connection closing under us: next second
                    logger.debug("sender stats unavailable: %r", exc)
            await asyncio.sleep(SAMPLE_INTERVAL)

    async def _status(self, request: web.Request) -> web.Response:
        document = self.tracker.status()
        for section in self.sections:
            document[section.status_key] = section.status()
        response = web.json_response(document)
        response.force_close()  # one answer per connection: only a slow client meets the deadline
        return response

    async def _metrics(self, request: web.Request) -> web.Response:
        response = web.Response(
            body=generate_latest(self.registry), headers={"Content-Type": METRICS_CONTENT_TYPE}
        )
        response.force_close()
        return response


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="seconds")
