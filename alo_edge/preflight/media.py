"""The media pre-flight: the camera delivers a picture, the microphone hears something,
the speaker opens.

Each check builds its device exactly as the service does (``alo_edge.app``), opens it,
takes what it delivers and releases it. The media stack (and the event loop its devices
run on) is imported here, inside the checks, so everything ``alo-edge check`` does before it
opens a device runs without it.
A device held by a running alo-edge cannot be opened twice: stop the service first.
"""

from __future__ import annotations

import math
import time
from collections.abc import Coroutine
from typing import Any

from alo_edge.config import Config
from alo_edge.errors import ExitCode, HardwareError
from alo_edge.preflight.base import Finding, Verdict

#: How long a device may take to deliver its first frame (a Pi camera starts in ~1 s).
FIRST_FRAME_SECONDS = 5.0
#: How much audio the microphone check listens to.
LISTEN_SECONDS = 0.5
#: Below this peak level (dBFS) a microphone is "nearly silent": even a quiet room is louder.
NEARLY_SILENT_DBFS = -70.0
_RUNNING_SERVICE = "a running alo-edge holds the device: `sudo systemctl stop alo-edge` first"
_CAMERA_FIX = {
    "picamera2": "check the camera cable and `rpicam-hello --list-cameras`",
    "v4l2": "check video.device (`v4l2-ctl --list-devices`)",
    "file": "check video.file",
}


def _on_a_loop(opening: Coroutine[Any, Any, list[Finding]]) -> list[Finding]:
    """Run a device check: the media sources and sinks start and deliver on an event loop."""
    import asyncio

    return asyncio.run(opening)


def _hardware(check: str, message: str, fix: str) -> Finding:
    return Finding(check, Verdict.FAIL, message, fix=fix, exit_code=ExitCode.HARDWARE)


class CameraCheck:
    """The configured camera opens and delivers one picture within FIRST_FRAME_SECONDS."""

    name = "camera"

    def run(self, config: Config) -> list[Finding]:
        if config.video.source == "none":
            return [Finding(self.name, Verdict.SKIP, "no camera (video.source = none)")]
        return _on_a_loop(self._first_picture(config))

    async def _first_picture(self, config: Config) -> list[Finding]:
        import asyncio

        from alo_edge.app import build_video_source

        source_kind = config.video.source
        fix = f"{_CAMERA_FIX.get(source_kind, 'check [video]')}; {_RUNNING_SERVICE}"
        try:
            source = build_video_source(config)
        except HardwareError as exc:
            return [_hardware(self.name, str(exc), fix)]
        assert source is not None
        started = time.monotonic()
        try:
            await source.start()
            item = await asyncio.wait_for(source.track.recv(), FIRST_FRAME_SECONDS)
        except HardwareError as exc:
            return [_hardware(self.name, str(exc), fix)]
        except TimeoutError:
            message = (
                f"{source.device_id} opened but delivered no picture within "
                f"{FIRST_FRAME_SECONDS:g} s"
            )
            return [_hardware(self.name, message, fix)]
        finally:
            source.stop()
        took = (time.monotonic() - started) * 1000
        message = f"{source.device_id} delivered {_describe_picture(item)} after {took:.0f} ms"
        return [Finding(self.name, Verdict.OK, message)]


def _describe_picture(item: Any) -> str:
    import av

    if isinstance(item, av.VideoFrame):
        return f"a {item.width}x{item.height} picture"
    if isinstance(item, av.Packet):
        return f"an H.264 picture ({item.size} bytes)"
    return "a picture"


class MicrophoneCheck:
    """The configured microphone delivers LISTEN_SECONDS of audio that is not silence."""

    name = "microphone"

    def run(self, config: Config) -> list[Finding]:
        if config.audio.source == "none":
            return [Finding(self.name, Verdict.SKIP, "no microphone (audio.source = none)")]
        return _on_a_loop(self._listen(config))

    async def _listen(self, config: Config) -> list[Finding]:
        import asyncio

        import av
        import numpy as np

        from alo_edge.app import build_audio_source

        fix = f"check audio.device (`arecord -L`); {_RUNNING_SERVICE}"
        source = build_audio_source(config)
        assert source is not None
        peak, seconds = 0.0, 0.0
        try:
            await source.start()
            async with asyncio.timeout(FIRST_FRAME_SECONDS + LISTEN_SECONDS):
                while seconds < LISTEN_SECONDS:
                    frame = await source.track.recv()
                    if not isinstance(frame, av.AudioFrame):
                        continue
                    data = frame.to_ndarray()
                    seconds += frame.samples / frame.sample_rate
                    if data.size:
                        peak = max(peak, float(np.abs(data.astype(np.float64)).max()))
        except HardwareError as exc:
            return [_hardware(self.name, str(exc), fix)]
        except TimeoutError:
            message = f"{source.device_id} delivered {seconds:.2f} s of audio, then nothing"
            return [_hardware(self.name, message, fix)]
        finally:
            source.stop()
        heard = f"{source.device_id}: {LISTEN_SECONDS:g} s of audio"
        if peak == 0:
            mute_fix = f"unmute the capture (`alsamixer`, F4) or pick another audio.device; {fix}"
            return [_hardware(self.name, f"{heard}, all digital silence", mute_fix)]
        level = 20 * math.log10(peak / 32768)
        if level < NEARLY_SILENT_DBFS:
            message = f"{heard}, nearly silent (peak {level:.0f} dBFS)"
            return [Finding(self.name, Verdict.WARN, message, fix="raise the capture gain")]
        return [Finding(self.name, Verdict.OK, f"{heard}, peak {level:.0f} dBFS")]


class SpeakerCheck:
    """The talk-back speaker opens for playback (nothing is played)."""

    name = "speaker"

    def run(self, config: Config) -> list[Finding]:
        if not config.audio.playback:
            return [Finding(self.name, Verdict.SKIP, "no talk-back (audio.playback = false)")]
        return _on_a_loop(self._open(config))

    async def _open(self, config: Config) -> list[Finding]:
        from alo_edge.app import build_audio_sink

        audio = config.audio
        sink = build_audio_sink(config)
        assert sink is not None
        try:
            await sink.start()
        except HardwareError as exc:
            fix = f"check audio.playback_device (`aplay -L`); {_RUNNING_SERVICE}"
            return [_hardware(self.name, str(exc), fix)]
        finally:
            sink.stop()
        message = f"ALSA {audio.playback_device!r} opens for playback ({audio.rate} Hz)"
        return [Finding(self.name, Verdict.OK, message)]
