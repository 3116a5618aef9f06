"""The system tier: alo-edge under a real systemd, booted with systemd-nspawn.

The rootfs (Debian bookworm minbase + systemd, python3, python3-systemd) is built by
``scripts/build-test-rootfs`` on first use and cached; the project goes in as wheels built on
the host (CPython 3.11, like bookworm) and installed by ``scripts/install-on-pi`` itself,
offline. The lab runs on the host's loopback, which the container shares.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.system.appliance import (
    BUNDLES_IN_MACHINE,
    CHANNEL,
    CONFIG_IN_MACHINE,
    REPO,
    SRC_IN_MACHINE,
    USER_ID,
    WHEELS_IN_MACHINE,
    Installation,
    device_config,
    install_into,
)
from tests.system.machine import DeviceService, LabServer, Machine, remove_leftovers

#: Seconds each setup step took, reported at the end of the run.
TIMINGS: dict[str, str] = {}


def _timed(name: str, started: float, note: str = "") -> None:
    TIMINGS[name] = f"{time.monotonic() - started:.1f} s{note}"


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if TIMINGS:
        steps = ", ".join(f"{name} {took}" for name, took in TIMINGS.items())
        terminalreporter.write_line(f"system tier setup: {steps}")


@pytest.fixture(scope="session")
def rootfs() -> Path:
    """The cached bookworm rootfs, built by scripts/build-test-rootfs on first use."""
    if os.geteuid() != 0:
        pytest.skip("needs root")
    for leftover in remove_leftovers():
        print(f"removed leftover of a killed run: {leftover}", file=sys.stderr)
    started = time.monotonic()
    result = subprocess.run(
        [str(REPO / "scripts" / "build-test-rootfs")],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    if result.returncode != 0:
        pytest.fail(f"scripts/build-test-rootfs failed:\n{result.stderr[-4000:]}")
    built = "built" in result.stderr
    _timed("rootfs", started, " (built)" if built else " (cached)")
    return Path(result.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="session")
def wheels(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Wheels of the working tree and all its dependencies, built with the host's pip."""
    if sys.version_info[:2] != (3, 11):
        pytest.fail(f"wheels built by Python {sys.version_info[:2]} do not fit bookworm's 3.11")
    started = time.monotonic()
    # Build from a copy: pip builds in-tree, and the working tree is shared with others.
    source = tmp_path_factory.mktemp("source")
    shutil.copy2(REPO / "pyproject.toml", source)
    shutil.copy2(REPO / "README.md", source)
    shutil.copytree(
        REPO / "alo_edge", source / "alo_edge", ignore=shutil.ignore_patterns("__pycache__")
    )
    wheel_dir = tmp_path_factory.mktemp("wheels")
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--quiet",
            "--wheel-dir",
            str(wheel_dir),
            str(source),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if result.returncode != 0:
        pytest.fail(f"pip wheel failed:\n{result.stderr[-4000:]}")
    _timed("wheels", started)
    try:
        yield wheel_dir
    finally:  # ~60 MB a run; pytest would keep three runs' worth
        shutil.rmtree(wheel_dir, ignore_errors=True)
        shutil.rmtree(source, ignore_errors=True)


@pytest.fixture(scope="session")
def bundle_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where the release tests put their bundles (the container sees it as BUNDLES_IN_MACHINE)."""
    return tmp_path_factory.mktemp("bundles")


@pytest.fixture(scope="session")
def machine(
    rootfs: Path, wheels: Path, bundle_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Machine]:
    """The booted container; powered off (or killed) at the end, pass or fail."""
    logs = tmp_path_factory.mktemp("machine")
    binds = {REPO: SRC_IN_MACHINE, wheels: WHEELS_IN_MACHINE, bundle_dir: BUNDLES_IN_MACHINE}
    booted = Machine(rootfs, logs / "nspawn.log", binds=binds)
    try:
        TIMINGS["boot"] = f"{booted.boot():.1f} s"
        yield booted
    finally:
        booted.shutdown()


@pytest.fixture(scope="session")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabServer]:
    """The lab on the host's 127.0.0.1, stopped by its pid at the end."""
    state = tmp_path_factory.mktemp("lab")
    command = [str(Path(sys.executable).parent / "alo-edge")]
    server = LabServer(command, state / "state", state / "lab.log")
    try:
        server.start()
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def installed(
    machine: Machine, lab: LabServer, tmp_path_factory: pytest.TempPathFactory
) -> Installation:
    """The project installed in the container by scripts/install-on-pi, service started."""
    token = lab.mint_token(USER_ID, tmp_path_factory.mktemp("token") / "token")
    started = time.monotonic()
    log = install_into(machine, lab.url, token)
    _timed("install", started)
    return Installation(machine, lab, token, log)


@pytest.fixture
def service(installed: Installation) -> DeviceService:
    """alo-edge.service with the good config, running and CONNECTED (started if it was not)."""
    device = DeviceService(installed.machine, installed.lab, CHANNEL)
    installed.machine.write_file(CONFIG_IN_MACHINE, device_config(installed.lab.url))
    if device.properties()["ActiveState"] != "active":
        device.systemctl("reset-failed", check=False)
        device.systemctl("start")
    device.wait_connected()
    return device
