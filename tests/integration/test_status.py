"""The device's local status endpoint: /status for a person, /metrics for Prometheus.

A real `alo-edge run` publishes to a real `alo-edge lab`; the lab kicks the session and
the counters must move across the reconnect. /metrics is read with prometheus-client's
own parser, as a Prometheus server would.
"""

from __future__ import annotations

import time
import urllib.request
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from alo_edge import __version__
from tests.helpers import (
    STEP,
    LabProcess,
    Proc,
    device_config,
    free_port,
    http_json,
    run_cli,
    state_is,
)

pytestmark = pytest.mark.integration

CHANNEL = "porch"


def metrics_at(url: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """``{(sample name, sorted labels): value}`` parsed from ``GET /metrics``."""
    with urllib.request.urlopen(f"{url}/metrics", timeout=5) as response:
        assert response.headers["Content-Type"].startswith("text/plain")
        text = response.read().decode()
    samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def status_at(url: str) -> dict[str, Any]:
    code, body = http_json("GET", f"{url}/status")
    assert code == 200, body
    result: dict[str, Any] = body
    return result


def wait_until(
    probe: Callable[[], Any], done: Callable[[Any], bool], what: str, timeout: float = STEP
) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if done(value):
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"waited {timeout:g} s for {what}; last: {value}")
        time.sleep(0.2)


def test_status_and_metrics_follow_the_session_across_a_reconnect(
    lab: LabProcess, start_device: Callable[..., Proc], tmp_path: Path
) -> None:
    port = free_port()
    status_url = f"http://127.0.0.1:{port}"
    token = tmp_path / "token"
    token.write_text(lab.mint("porch-1") + "\n", encoding="utf-8")
    document = device_config(
        user_id="porch-1",
        channel=CHANNEL,
        token_file=token,
        access_url=f"{lab.url}/v1/video/access",
        reconnect={"liveness_timeout": 3},
    )
    document["video"]["fps"] = 15
    document["status"] = {"listen": f"127.0.0.1:{port}"}
    device = start_device(document)
    device.wait_for(state_is("CONNECTED"), what="CONNECTED")

    status = status_at(status_url)
    assert status["state"] == "CONNECTED"
    assert abs(datetime.fromisoformat(status["since"]).timestamp() - time.time()) < STEP
    assert status["retryCount"] == 0
    assert status["pendingRestartSeconds"] is None
    assert status["channel"] == CHANNEL
    assert status["transport"] == "whip"
    assert status["version"] == __version__
    assert status["uptime"] > 0
    video, audio = status["video"], status["audio"]
    assert (video["source"], video["device"]) == ("synthetic", "synthetic-video")
    assert (video["width"], video["height"], video["fps"]) == (320, 240, 15)
    assert (audio["source"], audio["device"]) == ("synthetic", "synthetic-audio")
    assert audio["talkback"] is False
    # The sampler runs once a second: the measured rate and the link numbers follow (a
    # bitrate needs two samples of the same connection).
    wait_until(
        lambda: status_at(status_url),
        lambda s: (
            (s["video"]["measuredFps"] or 0) >= 10
            and s["video"]["roundTripTime"] is not None
            and s["video"]["bitrate"] > 0
        ),
        "a measured frame rate, an RTT and a bitrate",
    )

    before = metrics_at(status_url)
    assert before[("alo_edge_connection_state", (("alo_edge_connection_state", "CONNECTED"),))] == 1
    assert before[("alo_edge_connection_state", (("alo_edge_connection_state", "ERROR"),))] == 0
    assert before[("alo_edge_connections_total", ())] == 1
    assert before[("alo_edge_reconnects_total", ())] == 0
    assert before[("alo_edge_connection_errors_total", ())] == 0
    assert before[("alo_edge_frames_sent_total", (("kind", "video"),))] > 0
    assert before[("alo_edge_bytes_sent_total", (("kind", "video"),))] > 0
    assert before[("alo_edge_round_trip_time_seconds", (("kind", "video"),))] >= 0
    info = next(labels for (name, labels) in before if name == "alo_edge_info")
    assert dict(info)["channel"] == CHANNEL
    assert dict(info)["version"] == __version__

    lab.kick(CHANNEL)
    device.wait_for(state_is("ERROR"), what="ERROR after the kick")
    device.wait_for(state_is("CONNECTED"), 2 * STEP, "CONNECTED again")

    after = wait_until(
        lambda: metrics_at(status_url),
        lambda m: (
            m[("alo_edge_bytes_sent_total", (("kind", "video"),))]
            > before[("alo_edge_bytes_sent_total", (("kind", "video"),))] + 1000
        ),
        "bytes sent to grow on the new connection",
    )
    assert after[("alo_edge_connections_total", ())] == 2
    assert after[("alo_edge_reconnects_total", ())] == 1
    assert after[("alo_edge_connection_errors_total", ())] == 1
    for kind in ("video", "audio"):
        key = ("alo_edge_frames_sent_total", (("kind", kind),))
        assert after[key] > before[key], kind
    errors = [dict(labels) for (name, labels) in after if name == "alo_edge_last_error_info"]
    # The kind of error as a label (a fixed set of values); the message only in /status.
    assert errors == [{"kind": "network"}], errors
    assert after[("alo_edge_last_error_timestamp_seconds", ())] > 0
    status = status_at(status_url)
    assert status["state"] == "CONNECTED"
    assert status["reconnects"] == 1
    assert status["lastError"]
    assert status["lastErrorKind"] == "network"

    printed = run_cli("status", "--url", status_url)
    assert printed.returncode == 0, printed.stderr
    lines = printed.stdout.splitlines()
    assert lines[0].startswith("state      CONNECTED since ")
    assert any(line.startswith(f"channel    {CHANNEL} over whip") for line in lines), lines
    assert any(line.startswith("video      synthetic (synthetic-video) 320x240") for line in lines)
    assert any(line.startswith("last error ") for line in lines), lines
    assert lines[-1] == f"version    alo-edge {__version__}"
    # What status.listen holds works as well as a URL.
    listen = run_cli("status", "--url", status_url.removeprefix("http://"))
    assert listen.returncode == 0, listen.stderr
    assert listen.stdout.splitlines()[0].startswith("state      CONNECTED since ")


def test_status_command_says_when_nothing_answers() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    printed = run_cli("status", "--url", url)
    assert printed.returncode == 1
    assert f"no status at {url}/status" in printed.stderr
    assert "status.listen" in printed.stderr
