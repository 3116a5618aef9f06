"""alo-edge on aarch64: installed from the arm64 bundle, under systemd, against the lab.

Debian bookworm arm64 is a Raspberry Pi OS userland without Raspberry Pi OS's own packages
(picamera2, libcamera, lgpio from its repository cannot be reached from here): the service
runs its synthetic camera and tone, and the GPIO panel is off.
"""

from __future__ import annotations

import json
import re
import time
import urllib.request
from pathlib import Path

import pytest

from alo_edge.system.timesync import NOT_SYNCHRONIZED, kernel_synchronized
from tests.arm64.conftest import Arm64Device, needs_root
from tests.system.appliance import CHANNEL, CONFIG_IN_MACHINE

pytestmark = [needs_root, pytest.mark.timeout(1200)]

RELEASE_BIN = "/opt/alo-edge/current/bin"


def _get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=10) as answer:
        text: str = answer.read().decode()
        return text


def test_installed_from_the_bundle_with_no_index(arm64_device: Arm64Device) -> None:
    machine = arm64_device.machine
    log = arm64_device.installer_log

    assert "checksums verified" in log, log
    assert f"release {arm64_device.release} is running: CONNECTED" in log, log
    assert machine.run("uname", "-m").stdout.strip() == "aarch64"
    probe = machine.run(
        f"{RELEASE_BIN}/python",
        "-c",
        "import platform, alsaaudio, aiortc, av, numpy, cryptography, lgpio;"
        "print(platform.machine(), alsaaudio.__file__.rsplit('/', 1)[-1])",
        timeout=120,
    ).stdout.split()
    # pyalsaaudio has no wheel: it was built here, by gcc, for aarch64.
    assert probe[0] == "aarch64"
    assert probe[1].startswith("alsaaudio.cpython-311-aarch64-linux-gnu")


def test_unit_connects_and_the_lab_decodes_video(arm64_device: Arm64Device) -> None:
    service = arm64_device.service

    state = service.wait_connected(timeout=120)
    report = service.wait_lab_receiving(timeout=60)

    assert (state["ActiveState"], state["SubState"]) == ("active", "running")
    assert report["connected"] is True
    assert report["framesDecoded"] > 0


def test_check_reports_each_os_setting(arm64_device: Arm64Device) -> None:
    machine = arm64_device.machine

    # Its exit status is check's own business (warnings here: no watchdog, no NetworkManager).
    result = machine.run(
        f"{RELEASE_BIN}/alo-edge", "check", "-c", CONFIG_IN_MACHINE, check=False, timeout=120
    )

    # Each line is "<verdict> <check>: <message>" (alo_edge/preflight/report.py).
    lines = [re.sub(r"^(ok|WARN|FAIL|skip)\s+", "", line) for line in result.stdout.splitlines()]
    by_check = {name: [line for line in lines if line.startswith(f"{name}: ")] for name in
                ("watchdog", "wifi", "journal", "time")}  # fmt: skip
    setting = "RuntimeWatchdogSec=14s (/etc/systemd/system.conf.d/50-alo-edge-watchdog.conf)"
    if not any(Path("/sys/class/watchdog").glob("watchdog*")):
        assert by_check["watchdog"] == [
            f"watchdog: {setting}, but this machine has no hardware watchdog (a container, or"
            " the watchdog driver is not loaded): not in effect"
        ], result.stdout
    else:  # systemd in a container never drives the host's watchdog: seen, not in effect
        (line,) = by_check["watchdog"]
        assert line.startswith(f"watchdog: {setting}, but not in effect: watchdog"), line
    assert by_check["wifi"] == [
        "wifi: power save off (/etc/NetworkManager/conf.d/50-alo-edge-wifi-powersave.conf), but"
        " NetworkManager is not installed here",
        "wifi: no Wi-Fi interface on this machine",
    ], result.stdout
    assert by_check["journal"] == [
        "journal: in RAM (Storage=volatile, /run/log/journal), at most 32M"
    ], result.stdout
    # The container shares the host's kernel clock: its NTP state is the truth.
    synchronized = kernel_synchronized()
    time_lines = by_check["time"]
    assert time_lines[-1] == (
        "time: alo-edge starts after time-sync.target (systemd-time-wait-sync is enabled)"
    ), result.stdout
    if synchronized:
        assert time_lines[0] == "time: the system clock is synchronized (kernel NTP state)"
    else:
        assert time_lines[0].startswith(f"time: {NOT_SYNCHRONIZED} (kernel NTP state)")


def test_status_reports_clock_talk_and_pi_health(arm64_device: Arm64Device) -> None:
    service = arm64_device.service
    service.wait_connected(timeout=120)

    status = json.loads(_get(f"{arm64_device.status_url}/status"))
    metrics = _get(f"{arm64_device.status_url}/metrics")
    status_text = service.properties()["StatusText"]

    # The service may not call adjtimex (ProtectClock=yes): it asks timedated instead.
    synchronized = kernel_synchronized()
    assert status["clock"]["synchronized"] is synchronized, status["clock"]
    assert (NOT_SYNCHRONIZED in status_text) is (not synchronized), status_text
    assert status["talk"] == {
        "active": False,
        "reason": "nobody is talking",
        "voiceSecondsAgo": None,
    }
    # Not a Pi: no firmware, no rpi_volt hwmon; the section says so rather than guessing.
    assert status["piHealth"]["available"] is False
    assert status["piHealth"]["underVoltage"] is None
    assert status["piHealth"]["cameraRestarts"] == 0
    assert "alo_edge_talk_active 0.0" in metrics
    assert "alo_edge_camera_restarts_total 0.0" in metrics
    assert f"alo_edge_clock_synchronized {float(synchronized)}" in metrics


def test_stop_leaves_the_channel(arm64_device: Arm64Device) -> None:
    service = arm64_device.service
    service.wait_lab_receiving(timeout=60)
    report = service.lab.channel(CHANNEL)
    assert report is not None

    started = time.monotonic()
    service.systemctl("stop")
    took = time.monotonic() - started

    state = service.properties()
    after = service.lab.channel(CHANNEL)
    assert (state["ActiveState"], state["Result"], state["ExecMainStatus"]) == (
        "inactive",
        "success",
        "0",
    )
    assert after is not None
    assert after["deletes"] == report["deletes"] + 1
    # Under qemu everything is several times slower than on a Pi; the unit's limit is 5 s.
    assert took < 5.0, f"systemctl stop took {took:.2f} s"
