"""Soak: 200 forced reconnects leave the device holding what it held before.

Runs ``scripts/bench soak``'s module as a process (the device in it, the lab in a child
process) and reads its JSON: RSS grows by less than 5 MB over 200 cycles, and open
file descriptors, asyncio tasks and threads are back to their start values. The start
is taken after 100 warm-up cycles (see alo_edge/tools/bench_soak.py for why).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.integration

CYCLES = 200
WARMUP = 300
RSS_GROWTH_LIMIT_KIB = 5 * 1024


@pytest.mark.timeout(300)
def test_200_reconnect_cycles_leak_nothing() -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "alo_edge.tools.bench_soak",
            f"--cycles={CYCLES}",
            f"--warmup={WARMUP}",
        ],
        capture_output=True,
        text=True,
        timeout=280,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout)
    start, end = report["start"], report["end"]

    assert report["cycles"] == CYCLES
    assert report["errors"] == 0, report  # a forced reconnect is not a failure
    assert end["rss_kib"] - start["rss_kib"] < RSS_GROWTH_LIMIT_KIB, report
    assert end["fds"] == start["fds"], report
    assert end["tasks"] == start["tasks"], report
    # asyncio's default executor (where aiortc encodes) may add a worker up to its bound;
    # every other thread must be the one that was there at the start.
    assert end["threads"] - end["executor_threads"] == (
        start["threads"] - start["executor_threads"]
    ), report
    assert end["executor_threads"] <= min(32, (os.cpu_count() or 1) + 4), report
