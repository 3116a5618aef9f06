"""The unit file passes systemd's own checks; the installer's dry run describes a sane install.

``systemd-analyze verify`` checks that ExecStart= and ExecReload= name executables and that
User= and the groups resolve, so it runs where those exist for real: in the container, on the
unit that scripts/install-on-pi installed there (byte-identical to the repository's file).
On this host /opt/alo-edge/current/bin/alo-edge does not exist, and pointing the unit at some
other binary would verify a different unit.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.helpers import UNIT_FILE
from tests.system.appliance import (
    INSTALLER,
    REPO,
    UNIT_IN_MACHINE,
    Installation,
    needs_root,
)

#: systemd-analyze security's overall exposure, 0 (locked down) to 10; lower is better.
MAX_EXPOSURE = 3.5


def _systemd_analyze(*args: str) -> subprocess.CompletedProcess[str]:
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze is not installed (Debian package systemd)")
    return subprocess.run(
        ["systemd-analyze", *args], capture_output=True, text=True, timeout=60, check=False
    )


@needs_root
@pytest.mark.timeout(600)
def test_verify_is_silent_where_the_unit_is_installed(installed: Installation) -> None:
    machine = installed.machine
    assert machine.run("cat", UNIT_IN_MACHINE).stdout == UNIT_FILE.read_text()

    result = machine.run("systemd-analyze", "verify", UNIT_IN_MACHINE, check=False)

    # verify exits 0 even when it warns: any stderr at all is a failure.
    assert (result.returncode, result.stderr) == (0, "")


def test_security_exposure_is_at_most_3_5() -> None:
    threshold = round(MAX_EXPOSURE * 10)  # --threshold counts tenths
    result = _systemd_analyze(
        "security", "--offline=yes", f"--threshold={threshold}", "--no-pager", str(UNIT_FILE)
    )

    found = re.search(r"Overall exposure level for alo-edge\.service: (\d+\.\d+)", result.stdout)
    assert found, result.stdout[-2000:] + result.stderr
    exposure = float(found.group(1))
    assert exposure <= MAX_EXPOSURE, result.stdout
    assert result.returncode == 0, f"exposure {exposure}: {result.stderr}"


def test_security_review_passes_the_hardening_the_devices_allow() -> None:
    result = _systemd_analyze("security", "--offline=yes", "--no-pager", str(UNIT_FILE))

    passed = {line.split()[1] for line in result.stdout.splitlines() if line.startswith("✓")}
    for setting in (
        "ProtectSystem=",
        "ProtectHome=",
        "PrivateTmp=",
        "NoNewPrivileges=",
        "CapabilityBoundingSet=~CAP_SYS_ADMIN",
        "RestrictAddressFamilies=~AF_PACKET",
        "SystemCallFilter=~@privileged",
        "NotifyAccess=",
    ):
        assert setting in passed, f"{setting} not satisfied:\n{result.stdout}"


def _unit_settings() -> dict[str, list[str]]:
    settings: dict[str, list[str]] = {}
    for line in UNIT_FILE.read_text().splitlines():
        if "=" in line and not line.startswith(("#", ";", "[")):
            key, value = line.split("=", 1)
            settings.setdefault(key.strip(), []).append(value.strip())
    return settings


def test_unit_declares_the_service_contract() -> None:
    # The nspawn tests shorten WatchdogSec and RestartSec with a drop-in; the rest they
    # exercise as written. These are the values a Pi gets.
    unit = _unit_settings()

    expected = {
        "Type": ["notify"],
        "NotifyAccess": ["main"],
        "WatchdogSec": ["10s"],
        "Restart": ["always"],
        "RestartSec": ["2s"],
        "RestartPreventExitStatus": ["78"],
        "TimeoutStopSec": ["5s"],
        "StartLimitIntervalSec": ["0"],
        "MemoryMax": ["320M"],
        "Environment": ["MALLOC_ARENA_MAX=2"],
        "User": ["alo-edge"],
        "SupplementaryGroups": ["video audio gpio"],
        "LoadCredential": [
            "alo-token:/etc/alo-edge/token",
            "alo-client-secret:/etc/alo-edge/client-secret",
        ],
        # The fallbacks that keep a unit with only one of the two files starting.
        "SetCredential": ["alo-token:\\n", "alo-client-secret:\\n"],
        "ExecStart": ["/opt/alo-edge/current/bin/alo-edge run -c /etc/alo-edge/config.toml"],
        "ExecReload": ["/bin/kill -HUP $MAINPID"],
        "Wants": ["network-online.target time-sync.target"],
        "DevicePolicy": ["closed"],
        "CapabilityBoundingSet": [""],
        "WorkingDirectory": ["%S/alo-edge"],
    }
    assert {key: unit.get(key) for key in expected} == expected
    assert {"network-online.target", "time-sync.target"} <= set(unit["After"][0].split())
    # No start limit: the unit never ends up failed for good (StartLimitBurst is moot).
    assert "StartLimitBurst" not in unit
    allowed = {entry.split()[0] for entry in unit["DeviceAllow"]}
    assert allowed == {
        "char-video4linux",  # /dev/video*: the camera and the H.264 encoder
        "char-media",  # /dev/media*: libcamera's media controller
        "char-dma_heap",  # /dev/dma_heap/*: libcamera's buffers
        "char-alsa",  # /dev/snd/*
        "char-gpiochip",  # /dev/gpiochip*
    }


def _installer(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(INSTALLER), *args], capture_output=True, text=True, timeout=60, check=False
    )


def _system_state() -> tuple[bool, bool, bool, str]:
    user = subprocess.run(["getent", "passwd", "alo-edge"], capture_output=True, text=True)
    return (
        Path("/opt/alo-edge").exists(),
        Path("/etc/alo-edge").exists(),
        Path("/etc/systemd/system/alo-edge.service").exists(),
        user.stdout,
    )


def test_installer_dry_run_describes_the_install_and_changes_nothing(tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text("not-a-real-token\n")
    before = _system_state()

    result = _installer("--dry-run", "--token-file", str(token))

    assert result.returncode == 0, result.stderr
    assert _system_state() == before
    out = result.stderr
    assert "dry run: nothing is changed" in out
    would = [line for line in out.splitlines() if line.startswith("would run: ")]
    expected = [
        f"install -m 0600 -o root -g root {token} /etc/alo-edge/token",
        f"install -m 0644 -o root -g root {UNIT_FILE} /etc/systemd/system/alo-edge.service",
        "-m pip install",
        "ln -sfn releases/",
        "mv -T /opt/alo-edge/.current.new /opt/alo-edge/current",
    ]
    if not before[0]:
        expected.append("python3 -m venv --system-site-packages /opt/alo-edge/releases/")
    if not before[3]:
        expected.append("useradd --system --user-group")
    for fragment in expected:
        assert any(fragment in line for line in would), f"no {fragment!r} in:\n{out}"
    if os.path.isdir("/run/systemd/system"):
        assert any("systemctl restart alo-edge.service" in line for line in would), out


def test_installer_dry_run_uninstall_keeps_config_unless_purge() -> None:
    before = _system_state()

    kept = _installer("--dry-run", "--uninstall")
    purged = _installer("--dry-run", "--uninstall", "--purge")

    assert (kept.returncode, purged.returncode) == (0, 0), kept.stderr + purged.stderr
    assert _system_state() == before
    assert not any("/etc/alo-edge " in line for line in kept.stderr.splitlines())
    assert any(
        line.startswith("would run: rm -rf /etc/alo-edge") for line in purged.stderr.splitlines()
    ), purged.stderr


def test_installer_refuses_bad_usage() -> None:
    purge_alone = _installer("--dry-run", "--purge")
    unknown = _installer("--dry-run", "--frobnicate")

    assert purge_alone.returncode != 0
    assert "--purge only goes with --uninstall" in purge_alone.stderr
    assert unknown.returncode == 2
    assert "unknown option: --frobnicate" in unknown.stderr


def test_scripts_parse() -> None:
    for script in ("install-on-pi", "build-test-rootfs", "build-bundle"):
        result = subprocess.run(
            ["bash", "-n", str(REPO / "scripts" / script)], capture_output=True, text=True
        )
        assert (result.returncode, result.stderr) == (0, ""), script
