"""``scripts/bench soak --cycles N``: N forced reconnects, and whether anything leaked.

A device that reconnects a few times a day for years must end each cycle holding what
it held before: the same open file descriptors, asyncio tasks and threads, and memory
that does not creep. This benchmark runs a device (synthetic 320x240 video and tone,
the WHIP transport, the supervisor, exactly as ``alo-edge run`` builds them) in this
process against ``alo-edge lab`` in a child process, so the figures are the device's
alone, and forces N reconnect cycles with ``reconnect_now()``. Each cycle closes the
old peer connection, opens a new one, and waits until the lab decodes video from it,
so every cycle is a real one.

It prints one JSON object: the resources at the first connect, after ``--warmup``
cycles and after the last cycle, and the growth between the last two. The device is
measured in the steady state it reaches in the field, where pools that grow on demand
are full: asyncio's default executor, where aiortc encodes, starts a thread only when
all its threads are busy, so a quiet run may add one in the middle of the measurement
(and with it ~10 MB of a new malloc arena). The benchmark starts every worker of that
executor before the first connect, and runs with glibc's arenas capped as the systemd
unit caps them (``MALLOC_ARENA_MAX``, re-executing itself when it is not set), so
RSS measures the device, not the allocator's per-thread pools. The warm-up cycles fill
what remains (aiortc's and PyAV's buffers, the arenas' free lists). Tasks still
closing a peer connection are given a bounded moment to finish before the end is
measured.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import socket
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from alo_edge.api import AloVideo
from alo_edge.errors import AloEdgeError
from alo_edge.events import Event
from alo_edge.lab.client import LabClient
from alo_edge.tools.lab_device import device_config, write_device_token

# The value systemd/alo-edge.service sets (Environment=MALLOC_ARENA_MAX=); test_soak
# checks that the two agree.
MALLOC_ARENA_MAX = "2"
CHANNEL = "soak"
SOAK_USER = "soak"
CYCLE_TIMEOUT = 20.0
SETTLE_TIMEOUT = 5.0
LAB_START_TIMEOUT = 10.0
TOKEN_TTL_MINUTES = 600.0


def resources() -> dict[str, int]:
    """RSS (KiB), open fds, asyncio tasks, Python threads (and those of asyncio's executor),
    OS threads and Python's allocated memory blocks (objects that leak show here even
    when RSS hides them in malloc's free space) of this process."""
    status = dict(
        line.split(":", 1)
        for line in Path("/proc/self/status").read_text(encoding="utf-8").splitlines()
        if ":" in line
    )
    return {
        "rss_kib": int(status["VmRSS"].split()[0]),
        "fds": len(os.listdir("/proc/self/fd")),
        "tasks": len(asyncio.all_tasks()),
        "threads": threading.active_count(),
        # asyncio's default executor (aiortc encodes there) grows on demand up to a bound.
        "executor_threads": sum(t.name.startswith("asyncio_") for t in threading.enumerate()),
        "os_threads": int(status["Threads"]),
        "py_blocks": sys.getallocatedblocks(),
    }


class StateWaiter:
    """Wakes a waiter on each CONNECTED of the session."""

    def __init__(self, video: AloVideo) -> None:
        self.connected = asyncio.Event()
        self.errors: list[str] = []
        video.events.add_event_listener("onConnectionChange", self._on_change)

    def _on_change(self, event: Event) -> None:
        state = event.detail["state"]
        if state == AloVideo.CONNECTION_STATUS_CONNECTED:
            self.connected.set()
        elif state == AloVideo.CONNECTION_STATUS_ERROR:
            self.errors.append(str(event.detail.get("message")))


async def _frames(lab: LabClient) -> int:
    frames: int = (await lab.channel_report(CHANNEL)).get("framesDecoded", 0)
    return frames


async def _cycle(video: AloVideo, waiter: StateWaiter, lab: LabClient) -> None:
    """Force one reconnect and return once the new connection delivers video."""
    before = await _frames(lab)
    waiter.connected.clear()
    video.reconnect_now()
    await asyncio.wait_for(waiter.connected.wait(), CYCLE_TIMEOUT)
    deadline = time.monotonic() + CYCLE_TIMEOUT
    while await _frames(lab) <= before:
        if time.monotonic() > deadline:
            raise TimeoutError("no video reached the lab after a reconnect")
        await asyncio.sleep(0.05)


async def _settle(start: dict[str, int]) -> dict[str, int]:
    """Resources once pending closes have finished (bounded by SETTLE_TIMEOUT)."""
    deadline = time.monotonic() + SETTLE_TIMEOUT
    while True:
        gc.collect()
        now = resources()
        settled = all(now[key] <= start[key] for key in ("fds", "tasks", "threads"))
        if settled or time.monotonic() > deadline:
            return now
        await asyncio.sleep(0.1)


def default_executor_workers() -> int:
    """How many workers asyncio's default executor starts at most: the bound
    ``concurrent.futures.ThreadPoolExecutor`` picks when given none."""
    return min(32, (os.cpu_count() or 1) + 4)


async def _start_every_executor_thread() -> None:
    """Start every worker of the loop's default executor (it starts them on demand, up
    to :func:`default_executor_workers`)."""
    workers = default_executor_workers()
    # Each call blocks its thread until all have arrived, so no thread can take two.
    everyone = threading.Barrier(workers, timeout=SETTLE_TIMEOUT)
    loop = asyncio.get_running_loop()
    await asyncio.gather(*(loop.run_in_executor(None, everyone.wait) for _ in range(workers)))


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


async def _start_lab(state_dir: Path) -> tuple[asyncio.subprocess.Process, str]:
    """``alo-edge lab`` on a free loopback port, once it answers; returns it and its URL."""
    port = _free_port()
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "alo_edge.cli", "lab", "--listen", f"127.0.0.1:{port}",
        "--state-dir", str(state_dir),
        stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        async with LabClient(url) as lab:
            await lab.wait_until_answering(
                LAB_START_TIMEOUT, starting=lambda: process.returncode is None
            )
    except AloEdgeError as exc:
        await _stop_lab(process)
        raise RuntimeError(f"the lab did not start: {exc}") from None
    return process, url


async def _stop_lab(process: asyncio.subprocess.Process) -> None:
    if process.returncode is None:
        process.terminate()
        try:
            await asyncio.wait_for(process.wait(), LAB_START_TIMEOUT)
        except TimeoutError:
            process.kill()
            await process.wait()


async def soak(cycles: int, warmup: int) -> dict[str, Any]:
    """Run the soak and return its report."""
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="alo-edge-soak-") as tmp:
        lab_process, lab_url = await _start_lab(Path(tmp) / "lab")
        try:
            async with LabClient(lab_url) as lab:
                return await _soak_device(cycles, warmup, lab, Path(tmp), started)
        finally:
            await _stop_lab(lab_process)


async def _soak_device(
    cycles: int, warmup: int, lab: LabClient, tmp: Path, started: float
) -> dict[str, Any]:
    from alo_edge.app import build_video  # the device exactly as `alo-edge run` builds it

    # The lab keeps its API key in its state directory, where `alo-edge token` reads it.
    api_key = (tmp / "lab" / "api_key").read_text(encoding="utf-8").strip()
    token_file = await write_device_token(
        lab, api_key, SOAK_USER, tmp / "token", ttl_minutes=TOKEN_TTL_MINUTES
    )
    config = device_config(
        lab.url,
        token_file,
        channel=CHANNEL,
        device={"user_id": SOAK_USER},
        video={"source": "synthetic", "width": 320, "height": 240, "fps": 30},
        audio={"source": "synthetic"},
    )
    video = build_video(config)
    waiter = StateWaiter(video)
    await _start_every_executor_thread()
    await video.connect(CHANNEL)
    try:
        await asyncio.wait_for(waiter.connected.wait(), CYCLE_TIMEOUT)
        first = resources()
        for _ in range(warmup):
            await _cycle(video, waiter, lab)
        start = await _settle(resources())
        for _ in range(cycles):
            await _cycle(video, waiter, lab)
        end = await _settle(start)
    finally:
        await video.disconnect()
        for source in video.media_sources:
            source.stop()
    return {
        "benchmark": "soak",
        "cycles": cycles,
        "warmup_cycles": warmup,
        "malloc_arena_max": os.environ.get("MALLOC_ARENA_MAX"),
        "seconds": round(time.monotonic() - started, 1),
        "errors": len(waiter.errors),
        "first_connect": first,
        "start": start,
        "end": end,
        "growth": {key: end[key] - start[key] for key in start},
        "rss_growth_mib": round((end["rss_kib"] - start["rss_kib"]) / 1024, 2),
    }


def main(argv: Sequence[str] | None = None) -> int:
    """Run the soak and print its JSON object on stdout."""
    parser = argparse.ArgumentParser(prog="scripts/bench soak", description=__doc__.splitlines()[0])
    parser.add_argument("--cycles", type=int, default=200, help="forced reconnects (default 200)")
    parser.add_argument(
        "--warmup", type=int, default=300, help="cycles before the start figures (default 300)"
    )
    arguments = list(sys.argv[1:] if argv is None else argv)
    args = parser.parse_args(arguments)
    if args.cycles < 1 or args.warmup < 0:
        parser.error("--cycles must be at least 1 and --warmup at least 0")
    if os.environ.get("MALLOC_ARENA_MAX") != MALLOC_ARENA_MAX:
        # glibc reads it once, at the process's first allocation: only a new process takes it.
        command = [sys.executable, "-m", "alo_edge.tools.bench_soak", *arguments]
        os.execve(sys.executable, command, {**os.environ, "MALLOC_ARENA_MAX": MALLOC_ARENA_MAX})
    print(json.dumps(asyncio.run(soak(args.cycles, args.warmup)), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
