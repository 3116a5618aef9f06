"""``alo-edge selftest``: does the speaker play and the microphone hear it?

It opens the configured ALSA speaker and microphone itself (so it runs while the
service is stopped: the service runs the same test on its own schedule and shows it
in /status), plays a one-second sweep and records it raw (no echo cancellation: the
test measures the hardware). Exit 0 when both work, 1 otherwise; ``--json`` prints
the result as /status carries it.
"""

from __future__ import annotations

import argparse
import asyncio
import json

from alo_edge.config import Config, load_config
from alo_edge.errors import ConfigError, ExitCode, HardwareError
from alo_edge.media.alsa import AlsaPlaybackSink, AlsaSource
from alo_edge.media.processing import EchoReference, MicPipeline, ProcessingSettings
from alo_edge.media.selftest import SelfTestResult, run_selftest, with_open_errors


def selftest(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    result = asyncio.run(run(config))
    print(json.dumps(result.to_dict(), indent=2) if args.json else describe(result))
    return ExitCode.OK if result.passed else 1


async def run(config: Config) -> SelfTestResult:
    """The self-test on ``config``'s ALSA devices, opened here and closed after."""
    a = config.audio
    if a.source != "alsa" or not a.playback:
        raise ConfigError(
            "the self-test plays on the speaker and records the microphone: it needs "
            f"audio.source = 'alsa' and audio.playback = true (got {a.source!r}, {a.playback})",
            key="audio.playback" if a.source == "alsa" else "audio.source",
        )
    raw = ProcessingSettings(
        echo_cancellation=False,
        noise_suppression=False,
        auto_gain=False,
        rate=a.rate,
        channels=a.channels,
    )
    reference = EchoReference(a.rate, a.channels)
    pipeline = MicPipeline(raw, reference)
    microphone = AlsaSource(a.device, a.rate, a.channels, pipeline=pipeline)
    speaker = AlsaPlaybackSink(a.playback_device, a.rate, a.channels, reference=reference)
    errors: dict[str, str | None] = {"microphone": None, "speaker": None}
    for name, device in (("microphone", microphone), ("speaker", speaker)):
        try:
            await device.start()
        except HardwareError as exc:
            errors[name] = str(exc)
    try:
        result = await run_selftest(speaker, pipeline)
    finally:
        microphone.stop()
        speaker.stop()
    return with_open_errors(result, microphone=errors["microphone"], speaker=errors["speaker"])


def describe(result: SelfTestResult) -> str:
    """The result for a person."""
    lines = [f"speaker     {result.speaker}", f"microphone  {result.microphone}"]
    if result.coupling_db is not None:
        lines.append(f"coupling    {result.coupling_db} dB, echo after {result.echo_delay_ms} ms")
    if result.noise_dbfs is not None:
        lines.append(f"room noise  {result.noise_dbfs} dBFS")
    lines.append(("PASS: " if result.passed else "FAIL: ") + result.message)
    return "\n".join(lines)
