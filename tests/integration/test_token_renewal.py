"""A device with alo.token_url against the lab's real token endpoint: tokens renew while
CONNECTED, /status and /metrics show the expiry, and no secret or token leaks."""

from __future__ import annotations

import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.helpers import (
    STEP,
    LabProcess,
    Proc,
    Processes,
    free_port,
    http_json,
    receiving,
    run_cli,
    state_is,
)

pytestmark = pytest.mark.integration

USER = "door-1"
CHANNEL = "front-door"
#: Seconds each token lives: renewed every 0.8 * 4 = 3.2 s.
TOKEN_TTL = 4


@pytest.fixture
def short_token_lab(procs: Processes, tmp_path: Path) -> LabProcess:
    server = LabProcess(
        procs, tmp_path / "lab-state", options=["--client-token-ttl", str(TOKEN_TTL)]
    )
    server.start()
    return server


def issue_client_secret(lab: LabProcess, out: Path) -> str:
    """`alo-edge token --client` as an operator runs it; the secret it wrote (0600)."""
    result = run_cli(
        "token",
        "--lab",
        lab.url,
        "--api-key-file",
        str(lab.state_dir / "api_key"),
        "--client",
        USER,
        "--out",
        str(out),
    )
    assert result.returncode == 0, result.stderr
    assert f"alo.token_url = '{lab.url}/v1/oauth/token'" in result.stderr
    assert out.stat().st_mode & 0o777 == 0o600
    secret = out.read_text(encoding="ascii").strip()
    assert secret not in result.stdout + result.stderr
    return secret


def metrics_at(url: str) -> str:
    with urllib.request.urlopen(f"{url}/metrics", timeout=5) as response:
        text: str = response.read().decode()
        return text


def test_tokens_renew_while_connected_and_status_shows_their_expiry(
    short_token_lab: LabProcess,
    start_device: Callable[..., Proc],
    tmp_path: Path,
) -> None:
    lab = short_token_lab
    secret = issue_client_secret(lab, tmp_path / "client-secret")
    status_url = f"http://127.0.0.1:{free_port()}"
    device = start_device(
        {
            "device": {"user_id": USER},
            "alo": {
                "channel": CHANNEL,
                "access_url": f"{lab.url}/v1/video/access",
                "token_url": f"{lab.url}/v1/oauth/token",
                "client_id": USER,
                "client_secret_file": str(tmp_path / "client-secret"),
            },
            "network": {"host_addresses": ["127.0.0.1"]},
            "video": {"source": "synthetic", "width": 160, "height": 120, "fps": 15},
            "audio": {"source": "synthetic"},
            "status": {"listen": status_url.removeprefix("http://")},
        }
    )
    device.wait_for(state_is("CONNECTED"), what="CONNECTED with a fetched token")
    lab.wait_for_channel(CHANNEL, receiving)

    # Two renewals after the first token: the session outlives the first token's expiry.
    deadline = time.monotonic() + 2 * TOKEN_TTL + STEP
    while True:
        code, status = http_json("GET", f"{status_url}/status")
        assert code == 200
        if status["token"]["renewals"] >= 3:
            break
        assert time.monotonic() < deadline, status["token"]
        time.sleep(0.2)

    token = status["token"]
    assert token["source"] == "client_credentials"
    assert token["renewalFailures"] == 0
    assert status["state"] == "CONNECTED"
    assert status["connections"] == 1  # renewal never touched the session
    report = lab.wait_for_channel(CHANNEL, receiving)
    assert report["sessions"] == 1
    metrics = metrics_at(status_url)
    expiry = next(
        float(line.split()[-1])
        for line in metrics.splitlines()
        if line.startswith("alo_edge_token_expiry_timestamp_seconds ")
    )
    assert time.time() < expiry <= time.time() + TOKEN_TTL + 1
    changes = [e for e in device.events.snapshot() if e.get("event") == "onConnectionChange"]
    assert [e["detail"]["state"] for e in changes] == [
        "ACQUIRING_ACCESS",
        "CONNECTING",
        "CONNECTED",
    ]
    printed = "\n".join(device.stderr.lines) + str(status) + metrics
    printed += "\n".join(str(e) for e in device.events.snapshot())
    assert secret not in printed
