"""``scripts/bench media``: what H.264 passthrough saves, and how fresh pictures arrive.

It prints one JSON object:

- ``passthrough`` / ``reencode``: the sender's CPU share of one core while publishing
  1280x720 at 30 fps to the lab. Passthrough replays a pre-encoded file through the
  ``file`` source (the camera's path); re-encode hands aiortc the same pictures,
  decoded before the measurement starts, for its libx264 to encode. Each sender runs
  in its own process and is measured with ``getrusage`` (all its threads) over the
  same window, so the two figures compare like with like; ``cpu_ratio`` divides them.
- ``latency_ms``: capture-to-decode latency of the synthetic source, read by the lab
  from the stamp in each decoded picture (device and lab share this machine's clock).

The lab runs in this process; the senders are ``python -m alo_edge.tools.bench_media _sender``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import resource
import sys
import time
from collections.abc import Iterator, Sequence
from importlib.metadata import version
from pathlib import Path
from typing import Any

import av
import numpy as np
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from alo_edge.api import AloVideo, VideoUser
from alo_edge.app import build_transports
from alo_edge.config import Config
from alo_edge.events import Event
from alo_edge.lab.client import LabClient
from alo_edge.media.base import VIDEO_CLOCK_RATE, VIDEO_TIME_BASE, MediaSource
from alo_edge.media.filesource import FileSource, write_h264_file
from alo_edge.media.synthetic import SyntheticVideoSource
from alo_edge.tools.lab_device import device_config, local_lab
from alo_edge.transport.ice import pin_host_addresses

CLIP_SECONDS = 4
CLIP_BITRATE = 2_000_000
LATENCY_SIZE = (640, 480)
CONNECT_TIMEOUT = 20.0
BENCH_USER = "bench"


def write_clip(path: Path, width: int, height: int, fps: int, bitrate: int) -> Path:
    """An Annex-B clip with camera-like content (a noisy moving block), IDR every 2 s."""
    rng = np.random.default_rng(1)
    ramp = np.tile(np.linspace(30, 220, width, dtype=np.uint8), (height, 1))

    def pictures() -> Iterator[np.ndarray]:
        for index in range(CLIP_SECONDS * fps):
            picture = np.full((height * 3 // 2, width), 128, dtype=np.uint8)
            picture[:height] = np.roll(ramp, index * 4, axis=1)
            top = (index * 4) % (height // 2)
            noise = rng.integers(16, 235, size=(height // 4, width // 4), dtype=np.uint8)
            picture[top : top + height // 4, width // 3 : width // 3 + width // 4] = noise
            yield picture

    return write_h264_file(
        path,
        pictures(),
        width=width,
        height=height,
        fps=fps,
        gop=2 * fps,
        bitrate=bitrate,
        preset="veryfast",
    )


class DecodedClipTrack(MediaStreamTrack):
    """The clip's pictures, decoded up front, looped at ``fps`` for aiortc to encode."""

    kind = "video"

    def __init__(self, frames: list[av.VideoFrame], fps: int) -> None:
        super().__init__()
        self._frames = frames
        self._fps = fps
        self._index = 0
        self._start: float | None = None
        self.last_frame_at: float | None = None

    async def recv(self) -> av.VideoFrame:
        if self.readyState != "live":
            raise MediaStreamError
        if self._start is None:
            self._start = time.monotonic()
        wait = self._start + self._index / self._fps - time.monotonic()
        if wait > 0:
            await asyncio.sleep(wait)
        frame = self._frames[self._index % len(self._frames)]
        frame.pts = self._index * VIDEO_CLOCK_RATE // self._fps
        frame.time_base = VIDEO_TIME_BASE
        self._index += 1
        self.last_frame_at = time.monotonic()
        return frame

    @property
    def frames_sent(self) -> int:
        """Pictures handed to the sender so far."""
        return self._index


class DecodedClipSource:
    """A MediaSource over :class:`DecodedClipTrack` (the re-encode side of the comparison)."""

    kind = "video"
    device_id = "bench-decoded-clip"

    def __init__(self, clip: Path, fps: int) -> None:
        with av.open(str(clip), format="h264") as container:
            self._frames = [f.reformat(format="yuv420p") for f in container.decode(video=0)]
        self._track = DecodedClipTrack(self._frames, fps)

    @property
    def track(self) -> MediaStreamTrack:
        return self._track

    @property
    def last_frame_at(self) -> float | None:
        return self._track.last_frame_at

    @property
    def frames_sent(self) -> int:
        return self._track.frames_sent

    async def start(self) -> None:
        """Nothing to open: the pictures were decoded when the source was built."""

    def stop(self) -> None:
        self._track.stop()


# --- the sender process ------------------------------------------------------------------


def _sender_config(args: argparse.Namespace) -> Config:
    video: dict[str, Any] = {"source": "synthetic"}
    if args.mode == "passthrough":
        video = {"source": "file", "file": args.file}
    elif args.mode == "latency":
        video = {"source": "synthetic", "width": LATENCY_SIZE[0], "height": LATENCY_SIZE[1]}
    return device_config(
        args.lab,
        args.token_file,
        channel=args.channel,
        device={"user_id": BENCH_USER},
        video={**video, "fps": args.fps},
        audio={"source": "none"},
    )


def _sender_source(args: argparse.Namespace, config: Config) -> MediaSource:
    if args.mode == "passthrough":
        return FileSource(args.file, fallback_fps=args.fps)
    if args.mode == "reencode":
        return DecodedClipSource(Path(args.file), args.fps)
    return SyntheticVideoSource(config.video.width, config.video.height, args.fps)


async def _run_sender(args: argparse.Namespace) -> dict[str, Any]:
    config = _sender_config(args)
    pin_host_addresses(config.network.host_addresses)
    source = _sender_source(args, config)
    video = AloVideo(
        VideoUser(BENCH_USER),
        args.token,
        config=config,
        video_source=source,
        transports=build_transports(config, talkback=False),
    )
    connected = asyncio.Event()

    def on_change(event: Event) -> None:
        if event.detail["state"] == AloVideo.CONNECTION_STATUS_CONNECTED:
            connected.set()

    video.events.add_event_listener("onConnectionChange", on_change)
    await video.connect(args.channel)
    try:
        async with LabClient(args.lab) as lab:
            await asyncio.wait_for(connected.wait(), CONNECT_TIMEOUT)
            await asyncio.sleep(args.warmup)
            before, usage, started = (
                await lab.channel_report(args.channel),
                resource.getrusage(resource.RUSAGE_SELF),
                time.monotonic(),
            )
            await asyncio.sleep(args.seconds)
            used = resource.getrusage(resource.RUSAGE_SELF)
            elapsed = time.monotonic() - started
            after = await lab.channel_report(args.channel)
    finally:
        await video.disconnect()
        source.stop()
    cpu = (used.ru_utime - usage.ru_utime) + (used.ru_stime - usage.ru_stime)
    return {
        "cpu_share": round(cpu / elapsed, 3),
        "lab_fps": round((after["framesDecoded"] - before["framesDecoded"]) / elapsed, 1),
        "lab_size": f"{after['width']}x{after['height']}",
        "latency_ms": after.get("latencyMs"),
    }


# --- the benchmark ---------------------------------------------------------------------


async def _spawn_sender(
    mode: str, clip: Path, lab: str, token: Path, args: argparse.Namespace
) -> dict[str, Any]:
    """Run one measured sender in its own process; its JSON line is the result."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "alo_edge.tools.bench_media",
        "_sender",
        f"--mode={mode}",
        f"--file={clip}",
        f"--lab={lab}",
        f"--token-file={token}",
        f"--channel=bench-{mode}",
        f"--fps={args.fps}",
        f"--seconds={args.seconds}",
        f"--warmup={args.warmup}",
        stdout=asyncio.subprocess.PIPE,
    )
    out, _ = await process.communicate()
    if process.returncode != 0:
        raise SystemExit(f"bench: the {mode} sender failed (exit {process.returncode})")
    result: dict[str, Any] = json.loads(out)
    return result


async def _media(args: argparse.Namespace) -> dict[str, Any]:
    async with local_lab(BENCH_USER, prefix="alo-edge-bench-") as device:
        clip = write_clip(
            device.workdir / "clip.h264", args.width, args.height, args.fps, CLIP_BITRATE
        )
        clip_kbps = round(clip.stat().st_size * 8 / CLIP_SECONDS / 1000)
        results = {
            mode: await _spawn_sender(mode, clip, device.url, device.token_file, args)
            for mode in ("passthrough", "reencode", "latency")
        }
    passthrough, reencode, latency = (
        results["passthrough"],
        results["reencode"],
        results["latency"],
    )
    return {
        "benchmark": "media",
        "machine": {
            "cpus": os.cpu_count(),
            "machine": platform.machine(),
            "python": platform.python_version(),
            "aiortc": version("aiortc"),
            "av": version("av"),
        },
        "video": {"width": args.width, "height": args.height, "fps": args.fps},
        "window_seconds": args.seconds,
        "passthrough": {
            "source": f"file (H.264 {clip_kbps} kbit/s, passed through)",
            "cpu_share": passthrough["cpu_share"],
            "lab_fps": passthrough["lab_fps"],
            "lab_size": passthrough["lab_size"],
        },
        "reencode": {
            "source": "the same pictures, encoded by aiortc's libx264",
            "cpu_share": reencode["cpu_share"],
            "lab_fps": reencode["lab_fps"],
            "lab_size": reencode["lab_size"],
        },
        "cpu_ratio": round(passthrough["cpu_share"] / reencode["cpu_share"], 3),
        "latency_ms": {
            "source": f"synthetic {LATENCY_SIZE[0]}x{LATENCY_SIZE[1]} at {args.fps} fps",
            **(latency["latency_ms"] or {}),
            "lab_fps": latency["lab_fps"],
        },
    }


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="scripts/bench media", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--width", type=int, default=1280)
    parser.add_argument("--height", type=int, default=720)
    parser.add_argument("--fps", type=int, default=30)
    parser.add_argument("--seconds", type=float, default=8.0, help="measurement window")
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds before measuring")
    return parser


def _sender_parser() -> argparse.ArgumentParser:
    """One measured sender, started by the benchmark as ``... bench_media _sender ...``."""
    sender = argparse.ArgumentParser(prog="alo_edge.tools.bench_media _sender")
    sender.add_argument("--mode", choices=("passthrough", "reencode", "latency"), required=True)
    sender.add_argument("--file", required=True)
    sender.add_argument("--lab", required=True)
    sender.add_argument("--token-file", required=True)
    sender.add_argument("--channel", required=True)
    sender.add_argument("--fps", type=int, default=30)
    sender.add_argument("--seconds", type=float, default=8.0)
    sender.add_argument("--warmup", type=float, default=2.0)
    return sender


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark (or, with ``_sender`` first, one sender) and print its JSON object."""
    arguments = list(sys.argv[1:] if argv is None else argv)
    if arguments[:1] == ["_sender"]:
        args = _sender_parser().parse_args(arguments[1:])
        args.token = Path(args.token_file).read_text(encoding="utf-8").strip()
        print(json.dumps(asyncio.run(_run_sender(args))))
    else:
        print(json.dumps(asyncio.run(_media(_parser().parse_args(arguments))), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
