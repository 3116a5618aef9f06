"""``scripts/bench cli [--rounds N]``: how fast the light commands start, next to a bare Python.

An installer and a technician run ``alo-edge --help``, ``config``, ``status`` and ``check``
on a Pi Zero, where every library imported costs several times what it costs here. Each
round runs, in a shuffled order, a bare ``python -c pass`` and each command as a user
types it (the console script in this interpreter's directory), so both are measured side
by side under the same load. ``status`` asks a stand-in status endpoint served by this
process; ``check`` checks a config with a token and a WHIP endpoint (a stand-in answering
``OPTIONS``), no camera, and skips the microphone, so it measures everything ``check``
does before it opens media.

The commands start as on an installed device, whose modules pip compiled at install: the
children run with bytecode caching on (``PYTHONDONTWRITEBYTECODE`` dropped) into a private
``PYTHONPYCACHEPREFIX``, filled by one warm-up run of each command, so no run compiles
source (a checkout run with ``PYTHONDONTWRITEBYTECODE=1`` would compile alo-edge's modules
on every start and measure that instead).

It prints one JSON object: per command the median and 90th percentile wall time (ms),
the peak RSS (MiB, from ``wait4``), and the ratio of its median to the bare interpreter's;
``ok`` is whether every ratio is within ``--target`` (3x).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

TARGET_RATIO = 3.0
#: What the stand-in status endpoint answers: a connected device, as /status reports it.
STATUS = {
    "state": "CONNECTED",
    "since": "2025-01-01T12:00:00+00:00",
    "channel": "front-door",
    "transport": "whip",
    "video": {"source": "synthetic", "device": "synthetic-video", "width": 640, "height": 480},
    "audio": {"source": "synthetic", "device": "synthetic-audio", "talkback": False},
    "uptime": 3600,
    "reconnects": 0,
    "version": "bench",
}


class _StandIn(BaseHTTPRequestHandler):
    """``GET /status`` -> STATUS; ``OPTIONS`` (a WHIP endpoint) -> 204."""

    def do_GET(self) -> None:
        body = json.dumps(STATUS).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_OPTIONS(self) -> None:
        self.send_response(204)
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass  # quiet: the benchmark prints JSON only


@contextmanager
def stand_in() -> Iterator[str]:
    """A loopback HTTP server for ``status`` and ``check`` to ask: its ``http://host:port``."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _StandIn)
    thread = threading.Thread(target=server.serve_forever, name="bench stand-in", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()


def commands(workdir: Path, url: str) -> dict[str, list[str]]:
    """The command lines to time, by name (``bare`` first)."""
    script = Path(sys.executable).parent / "alo-edge"
    cli = [str(script)] if script.exists() else [sys.executable, "-m", "alo_edge.cli"]
    token = workdir / "token"
    token.write_text("an-opaque-bearer\n", encoding="utf-8")
    token.chmod(0o600)
    config = workdir / "door.toml"
    config.write_text(
        "[device]\nuser_id = 'door-42'\n"
        f"[alo]\nchannel = 'front-door'\nurl = '{url}/whip/front-door'\ntoken_file = '{token}'\n"
        "[video]\nsource = 'none'\n",
        encoding="utf-8",
    )
    return {
        "bare": [sys.executable, "-c", "pass"],
        "--help": [*cli, "--help"],
        "config": [*cli, "config", "-c", str(config)],
        "status": [*cli, "status", "--url", url.removeprefix("http://")],
        # Everything before a device is opened: the microphone check would open one.
        "check": [*cli, "check", "-c", str(config), "--skip", "microphone"],
    }


def run_once(argv: list[str], env: dict[str, str]) -> tuple[float, float, int]:
    """``(wall seconds, peak RSS MiB, exit code)`` of one run."""
    started = time.perf_counter()
    process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    _, status, usage = os.wait4(process.pid, 0)
    elapsed = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    return elapsed, usage.ru_maxrss / 1024, process.returncode


def bench(rounds: int, target: float, seed: int = 1) -> dict[str, Any]:
    """Run every command ``rounds`` times, interleaved; the report."""
    order = random.Random(seed)
    with tempfile.TemporaryDirectory(prefix="alo-edge-bench-cli-") as tmp, stand_in() as url:
        lines = commands(Path(tmp), url)
        env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        env["PYTHONPYCACHEPREFIX"] = str(Path(tmp) / "pycache")
        samples: dict[str, list[tuple[float, float, int]]] = {name: [] for name in lines}
        for argv in lines.values():
            run_once(argv, env)  # compile to bytecode, warm the page cache
        for _ in range(rounds):
            names = list(lines)
            order.shuffle(names)
            for name in names:
                samples[name].append(run_once(lines[name], env))
    bare = statistics.median(wall for wall, _, _ in samples["bare"])
    report: dict[str, Any] = {}
    for name, runs in samples.items():
        walls = sorted(wall for wall, _, _ in runs)
        median = statistics.median(walls)
        report[name] = {
            "median_ms": round(median * 1000, 1),
            "p90_ms": round(walls[int(0.9 * (len(walls) - 1))] * 1000, 1),
            "max_rss_mib": round(max(rss for _, rss, _ in runs), 1),
            "exit_codes": sorted({code for _, _, code in runs}),
            "ratio": round(median / bare, 2),
        }
    return {
        "python": sys.version.split()[0],
        "rounds": rounds,
        "target_ratio": target,
        "commands": report,
        "ok": all(entry["ratio"] <= target for entry in report.values()),
    }


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: ``python -m alo_edge.tools.bench_cli``; exit 1 when a ratio misses."""
    parser = argparse.ArgumentParser(prog="scripts/bench cli", description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=20, help="runs of each command (20)")
    parser.add_argument("--target", type=float, default=TARGET_RATIO, help="max ratio (3.0)")
    args = parser.parse_args(argv)
    result = bench(args.rounds, args.target)
    print(json.dumps(result, indent=2))
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
