"""The microphone pipeline in /status and /metrics, and the scheduled self-test.

:class:`AudioLevels` reports what :class:`~alo_edge.media.processing.MicPipeline` measures
(levels, the echo estimate, voice activity, ducking). :class:`AudioSelfTest` runs
:func:`~alo_edge.media.selftest.run_selftest` once the session has started and then
every ``audio.selftest_interval`` seconds, each time only once nobody has been talking
for QUIET_SECONDS (neither the far end on the speaker nor anyone at the microphone);
the result goes to /status, /metrics, the journal and the ``onAudioSelfTest`` event.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from alo_edge.events import Event
from alo_edge.media.levels import AudioLevels as Levels
from alo_edge.media.processing import MicPipeline
from alo_edge.media.selftest import SelfTestResult, run_selftest
from alo_edge.session.view import SessionView
from alo_edge.tasks import cancel_and_wait

logger = logging.getLogger(__name__)

SELFTEST_EVENT = "onAudioSelfTest"
#: Nobody may have talked for this long before the sweep plays.
QUIET_SECONDS = 2.0
POLL_SECONDS = 0.25
#: The speaker counts as quiet below this level (dBFS).
QUIET_SPEAKER_DBFS = -50.0


def talking(levels: Levels) -> bool:
    """Someone is talking: a voice at the microphone, or the far end on the speaker."""
    return levels.voice_active or levels.speaker_dbfs > QUIET_SPEAKER_DBFS


class QuietGate:
    """Opens once nobody has talked for ``quiet_for`` seconds (pure: time is passed in)."""

    def __init__(self, quiet_for: float) -> None:
        self._quiet_for = quiet_for
        self._quiet_since: float | None = None

    def observe(self, now: float, talking: bool) -> bool:
        """Fold in one look at the levels; True once it has been quiet long enough."""
        if talking:
            self._quiet_since = None
            return False
        if self._quiet_since is None:
            self._quiet_since = now
        return now - self._quiet_since >= self._quiet_for


class AudioLevels:
    """``/status`` key ``audio`` details: levels, echo estimate, voice activity, ducking."""

    def __init__(self, pipeline: MicPipeline, mode: str) -> None:
        self._pipeline = pipeline
        self._mode = mode

    async def start(self, session: SessionView) -> None:
        """Nothing to start: the pipeline measures on the capture thread."""

    async def stop(self) -> None:
        """Nothing to stop."""

    @property
    def status_key(self) -> str:
        return "audioProcessing"

    def status(self) -> dict[str, Any]:
        pipeline = self._pipeline
        settings = pipeline.settings
        levels = pipeline.levels
        reference = pipeline.reference
        return {
            "echoCancellation": settings.echo_cancellation and reference is not None,
            "noiseSuppression": settings.noise_suppression,
            "autoGain": settings.auto_gain,
            "mode": self._mode,
            "microphoneDbfs": levels.microphone_dbfs,
            "speakerDbfs": levels.speaker_dbfs,
            "outputDbfs": levels.output_dbfs,
            "echoReturnLossDb": levels.echo_return_loss_db,
            "echoReturnLossEnhancementDb": levels.echo_return_loss_enhancement_db,
            "voiceProbability": levels.voice_probability,
            "voiceActive": levels.voice_active,
            "farEndActive": levels.far_end_active,
            "ducked": levels.ducked,
            "streamDelayMs": levels.stream_delay_ms,
            "framesProcessed": pipeline.frames,
            "referenceDropped": reference.dropped if reference is not None else 0,
            "referenceBacklogMs": round(reference.backlog_seconds * 1000) if reference else 0,
            "playbackDelayMs": round(reference.playback_delay_seconds * 1000) if reference else 0,
        }

    def metrics(self) -> Iterable[Metric]:
        levels = self._pipeline.levels
        level = GaugeMetricFamily(
            "alo_edge_audio_level_dbfs",
            "Smoothed RMS level: microphone (raw), speaker (what ALSA played), output (sent)",
            labels=["point"],
        )
        level.add_metric(["microphone"], levels.microphone_dbfs)
        level.add_metric(["speaker"], levels.speaker_dbfs)
        level.add_metric(["output"], levels.output_dbfs)
        yield level
        if levels.echo_return_loss_db is not None:
            yield GaugeMetricFamily(
                "alo_edge_echo_return_loss_db",
                "Speaker level minus microphone level while only the far end speaks",
                value=levels.echo_return_loss_db,
            )
        if levels.echo_return_loss_enhancement_db is not None:
            yield GaugeMetricFamily(
                "alo_edge_echo_return_loss_enhancement_db",
                "Microphone level minus output level while only the far end speaks",
                value=levels.echo_return_loss_enhancement_db,
            )
        yield GaugeMetricFamily(
            "alo_edge_voice_probability",
            "The audio processing's speech probability at the microphone (0-1)",
            value=levels.voice_probability,
        )
        yield GaugeMetricFamily(
            "alo_edge_microphone_ducked",
            "1 while half duplex ducks the microphone",
            value=1.0 if levels.ducked else 0.0,
        )
        yield GaugeMetricFamily(
            "alo_edge_audio_stream_delay_seconds",
            "The delay hint given to the echo canceller (ALSA playback + capture delay)",
            value=levels.stream_delay_ms / 1000,
        )


class AudioSelfTest:
    """Runs the speaker/microphone self-test at start and every ``interval`` seconds."""

    def __init__(
        self,
        pipeline: MicPipeline,
        interval: float,
        *,
        quiet_for: float = QUIET_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._pipeline = pipeline
        self._interval = interval
        self._quiet_for = quiet_for
        self._clock = clock
        self._session: SessionView | None = None
        self._task: asyncio.Task[None] | None = None
        self.result: SelfTestResult | None = None
        self.runs = 0

    async def start(self, session: SessionView) -> None:
        self._session = session
        self._task = asyncio.create_task(self._schedule(), name="alo-edge audio self-test")

    async def stop(self) -> None:
        task, self._task = self._task, None
        await cancel_and_wait(task)
        self._session = None

    @property
    def status_key(self) -> str:
        return "selfTest"

    def status(self) -> dict[str, Any]:
        if self.result is None:
            return {"passed": None, "runs": self.runs}
        return {**self.result.to_dict(), "runs": self.runs}

    def metrics(self) -> Iterable[Metric]:
        yield CounterMetricFamily(
            "alo_edge_selftest_runs", "Speaker/microphone self-tests run", value=self.runs
        )
        result = self.result
        if result is None:
            return
        yield GaugeMetricFamily(
            "alo_edge_selftest_passed",
            "1 when the last self-test found speaker and microphone working",
            value=1.0 if result.passed else 0.0,
        )
        yield GaugeMetricFamily(
            "alo_edge_selftest_timestamp_seconds",
            "When the last self-test ran (epoch seconds)",
            value=result.at,
        )
        if result.coupling_db is not None:
            yield GaugeMetricFamily(
                "alo_edge_selftest_coupling_db",
                "Speaker-to-microphone coupling measured by the last self-test (dB)",
                value=result.coupling_db,
            )

    async def _schedule(self) -> None:
        while True:
            await self._wait_for_quiet()
            try:
                await self.run_once()
            except Exception:  # a bug must not end the schedule: say so, try next time
                logger.exception("audio self-test failed to run")
            await asyncio.sleep(self._interval)

    async def _wait_for_quiet(self) -> None:
        # A look at the levels every POLL_SECONDS: they are a snapshot the capture thread
        # replaces, not an event, so polling is the loop's side of that crossing.
        gate = QuietGate(self._quiet_for)
        while True:
            if gate.observe(self._clock(), talking(self._pipeline.levels)):
                return
            await asyncio.sleep(POLL_SECONDS)

    async def run_once(self) -> SelfTestResult:
        """Run the test now; report it in /status, the journal and ``onAudioSelfTest``."""
        session = self._session
        player = session.talkback if session is not None else None
        if player is None:
            raise RuntimeError("the self-test needs a session with a speaker")
        result = await run_selftest(player.sink, self._pipeline)
        self.result = result
        self.runs += 1
        log = logger.info if result.passed else logger.warning
        log(
            "audio self-test: speaker %s, microphone %s: %s",
            result.speaker,
            result.microphone,
            result.message,
        )
        if session is not None:
            session.events.dispatch_event(Event(SELFTEST_EVENT, result.to_dict()))
        return result
