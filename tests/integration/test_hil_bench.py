"""`scripts/hil-bench --virtual --json`: the bench's checks pass on gpiozero's MockFactory."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from alo_edge.tools.hil_bench.wiring import load_wiring

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]


def test_virtual_bench_passes_every_check() -> None:
    result = subprocess.run(
        [str(ROOT / "scripts" / "hil-bench"), "--virtual", "--json"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=110,
        check=False,
    )
    report = json.loads(result.stdout)  # --json: stdout is one JSON document, nothing else
    failed = [c for c in report["checks"] if not c["ok"]]
    assert result.returncode == 0, (failed, report.get("error"), result.stderr[-2000:])
    assert report["ok"] is True
    assert report["virtual"] is True
    assert report["backend"] == "mock"
    names = [c["name"] for c in report["checks"]]
    for state in ("NOT_CONNECTED", "ACQUIRING_ACCESS", "CONNECTED", "RECONNECT_PENDING", "ERROR"):
        assert f"pattern {state}" in names
    for check in (
        "pattern auth error",
        "connect",
        "media at the lab",
        "mic LED live",
        "press: toggle mute",
        "bouncy press: one toggle",
        "hold: reconnect now",
        "network cut: recovery",
        "status LED followed",
        "long hold: restart",
    ):
        assert check in names
    by_name = {c["name"]: c for c in report["checks"]}
    assert by_name["pattern RECONNECT_PENDING"]["frequencyHz"] == pytest.approx(0.5, rel=0.1)
    assert by_name["pattern auth error"]["pulses"] == 2
    assert by_name["status LED followed"]["worstLagMs"] <= 100
    assert by_name["long hold: restart"]["exitCodes"] == [75]


def test_the_wiring_file_loads_and_names_every_pin() -> None:
    wiring = load_wiring(ROOT / "config" / "hil-bench" / "wiring.toml")
    assert wiring.panel.status_led is not None
    assert wiring.panel.mic_led is not None
    assert wiring.panel.button is not None
    assert wiring.sense.button_drive not in (wiring.panel.status_led, wiring.panel.button)
    assert wiring.limits.follow_ms == 100


def test_the_bench_refuses_an_invalid_wiring_file(tmp_path: Path) -> None:
    broken = tmp_path / "wiring.toml"
    broken.write_text(
        "[panel]\nstatus_led = 17\nmic_led = 22\nbutton = 27\n"
        "[sense]\nstatus_led = 17\nmic_led = 6\nbutton_drive = 26\n",
        encoding="utf-8",
    )
    bench = [sys.executable, "-m", "alo_edge.tools.hil_bench"]
    result = subprocess.run(
        [*bench, "--virtual", "--wiring", str(broken)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 78
    assert "sense.status_led: GPIO17 is already used on the bench" in result.stderr
