"""Soak: 200 forced reconnects leave the device holding what it held before.

Runs ``scripts/bench soak``'s module as a process (the device in it, the lab in a child
process) and reads its JSON: RSS grows by less than 5 MB over 200 cycles, Python's
allocated blocks by fewer than 10 a cycle, and open file descriptors, asyncio tasks and
threads are back to their start values. The start is taken after 300 warm-up cycles,
with asyncio's executor full and malloc's arenas capped as the systemd unit caps them
(see alo_edge/tools/bench_soak.py for why).
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from alo_edge.tools.bench_soak import MALLOC_ARENA_MAX, default_executor_workers
from tests.helpers import UNIT_FILE

pytestmark = pytest.mark.integration

CYCLES = 200
WARMUP = 300
RSS_GROWTH_LIMIT_KIB = 5 * 1024
# A leaked peer connection is hundreds of objects; 200 cycles that keep one small
# object each would show as 200. Measured: tens to a few hundred blocks either way.
PY_BLOCKS_GROWTH_LIMIT = 10 * CYCLES


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

    # Measured as the service runs: the unit caps malloc's arenas with the same value.
    assert f"Environment=MALLOC_ARENA_MAX={MALLOC_ARENA_MAX}" in UNIT_FILE.read_text()
    assert report["malloc_arena_max"] == MALLOC_ARENA_MAX, report
    assert report["cycles"] == CYCLES
    assert report["errors"] == 0, report  # a forced reconnect is not a failure
    assert end["rss_kib"] - start["rss_kib"] < RSS_GROWTH_LIMIT_KIB, report
    assert end["py_blocks"] - start["py_blocks"] < PY_BLOCKS_GROWTH_LIMIT, report
    assert end["fds"] == start["fds"], report
    assert end["tasks"] == start["tasks"], report
    # The bench starts every worker of asyncio's executor (where aiortc encodes) first.
    assert start["executor_threads"] == default_executor_workers(), report
    assert end["threads"] == start["threads"], report
