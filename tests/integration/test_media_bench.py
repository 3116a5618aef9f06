"""`scripts/bench media`: passthrough costs at most a fifth of re-encoding at 720p30."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

pytestmark = pytest.mark.integration


def test_the_media_bench_prints_one_json_object_with_the_passthrough_saving() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "alo_edge.tools.bench_media", "--seconds", "3", "--warmup", "1"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    report = json.loads(result.stdout)  # the whole of stdout is one JSON object

    assert report["video"] == {"width": 1280, "height": 720, "fps": 30}
    for mode in ("passthrough", "reencode"):
        assert report[mode]["lab_size"] == "1280x720"
        assert report[mode]["lab_fps"] >= 25, report
    assert report["cpu_ratio"] == pytest.approx(
        report["passthrough"]["cpu_share"] / report["reencode"]["cpu_share"], abs=0.01
    )
    assert report["cpu_ratio"] <= 0.2, report
    latency = report["latency_ms"]
    assert latency["samples"] >= 30
    assert 0 < latency["p50"] <= latency["p95"] < 500, latency
