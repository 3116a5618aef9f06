"""The arm64 tier: Debian bookworm arm64 (a Pi's userland) under qemu-user, booted with
``systemd-nspawn --boot``, alo-edge installed from an arm64 bundle by scripts/install-on-pi.

It reuses the system tier's machinery (tests/system/machine.py); what differs is the rootfs
(``scripts/build-test-rootfs --arch arm64``, built in the background while the other tiers run:
see background.py), the bundle, and one drop-in: under qemu-user a unit with LoadCredential=
fails to start (qemu refuses the mount namespace systemd sets up for it), so the token reaches
the service as a file owned by its user; the amd64 tier keeps testing the credential.
"""

from __future__ import annotations

import os
import socket
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.arm64 import background
from tests.system.appliance import CHANNEL, CONFIG_IN_MACHINE, REPO, SRC_IN_MACHINE, USER_ID
from tests.system.appliance import device_config as system_device_config
from tests.system.bundles import bundle_for
from tests.system.machine import DeviceService, LabServer, Machine, remove_leftovers

BUNDLE_IN_MACHINE = "/mnt/bundle"
TOKEN_IN_MACHINE = "/etc/alo-edge/qemu-token"
DROP_IN_IN_MACHINE = "/etc/systemd/system/alo-edge.service.d/50-qemu-user.conf"
DROP_IN = """[Service]
# qemu-user cannot set up credentials (see tests/arm64/conftest.py): the token is a file.
LoadCredential=
SetCredential=
"""
#: Seconds each setup step took, reported at the end of the run.
TIMINGS: dict[str, str] = {}

needs_root = pytest.mark.skipif(
    os.geteuid() != 0, reason="the arm64 tier boots systemd in systemd-nspawn: needs root"
)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if TIMINGS:
        steps = ", ".join(f"{name} {took}" for name, took in TIMINGS.items())
        terminalreporter.write_line(f"arm64 tier setup: {steps}")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def device_config(lab_url: str, status_port: int) -> str:
    """The system tier's device config, with the token as a file and a known status port."""
    text = system_device_config(lab_url)
    text = text.replace("[alo]\n", f'[alo]\ntoken_file = "{TOKEN_IN_MACHINE}"\n', 1)
    return text + f'\n[status]\nlisten = "127.0.0.1:{status_port}"\n'


@dataclass(frozen=True)
class Arm64Device:
    machine: Machine
    lab: LabServer
    service: DeviceService
    token: str = field(repr=False)  # a failing test's traceback prints the fixture
    installer_log: str = ""
    status_url: str = ""
    release: str = ""


@pytest.fixture(scope="session")
def arm64_rootfs() -> Path:
    if os.geteuid() != 0:
        pytest.skip("needs root")
    for leftover in remove_leftovers():
        print(f"removed leftover of a killed run: {leftover}", file=sys.stderr)
    path, note = background.wait()
    TIMINGS["rootfs"] = note
    return path


@pytest.fixture(scope="session")
def arm64_bundle(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """scripts/build-bundle --arch arm64 of the working tree (dependencies cached)."""
    started = time.monotonic()
    out = tmp_path_factory.mktemp("arm64-bundle")
    bundle = bundle_for("arm64", ("pi",), out)
    TIMINGS["bundle"] = f"{time.monotonic() - started:.0f} s"
    yield bundle
    bundle.unlink(missing_ok=True)


@pytest.fixture(scope="session")
def arm64_machine(
    arm64_bundle: Path, arm64_rootfs: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Machine]:
    # The bundle first: its download overlaps the rootfs build when that is still running.
    logs = tmp_path_factory.mktemp("arm64-machine")
    binds = {REPO: SRC_IN_MACHINE, arm64_bundle.parent: BUNDLE_IN_MACHINE}
    booted = Machine(arm64_rootfs, logs / "nspawn.log", binds=binds)
    try:
        TIMINGS["boot"] = f"{booted.boot(timeout=120):.1f} s"
        yield booted
    finally:
        # A clean poweroff under qemu takes over 15 s; the overlay is thrown away anyway.
        booted.shutdown(timeout=2.0)


@pytest.fixture(scope="session")
def arm64_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabServer]:
    state = tmp_path_factory.mktemp("arm64-lab")
    server = LabServer([str(Path(sys.executable).parent / "alo-edge")], state / "s", state / "log")
    try:
        server.start()
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def arm64_device(
    arm64_machine: Machine,
    arm64_bundle: Path,
    arm64_lab: LabServer,
    tmp_path_factory: pytest.TempPathFactory,
) -> Arm64Device:
    """The bundle installed by scripts/install-on-pi with no index reachable; CONNECTED."""
    machine = arm64_machine
    token = arm64_lab.mint_token(USER_ID, tmp_path_factory.mktemp("arm64-token") / "token")
    status_port = free_port()
    # Any index pip might try is a closed port: an install that needs one fails.
    machine.write_file("/etc/pip.conf", "[global]\nindex-url = http://127.0.0.1:9/simple\n")
    machine.run(
        "useradd", "--system", "--user-group", "--home-dir", "/var/lib/alo-edge",
        "--no-create-home", "--shell", "/usr/sbin/nologin", "alo-edge",
    )  # fmt: skip
    machine.write_file(CONFIG_IN_MACHINE, device_config(arm64_lab.url, status_port))
    machine.write_file(TOKEN_IN_MACHINE, token + "\n", mode="0600")
    machine.run("chown", "alo-edge:alo-edge", TOKEN_IN_MACHINE)
    machine.write_file(DROP_IN_IN_MACHINE, DROP_IN)
    started = time.monotonic()
    result = machine.run(
        f"{SRC_IN_MACHINE}/scripts/install-on-pi",
        "--bundle", f"{BUNDLE_IN_MACHINE}/{arm64_bundle.name}",
        "--no-apt", "--health-timeout", "180",
        check=False, timeout=900,
    )  # fmt: skip
    TIMINGS["install"] = f"{time.monotonic() - started:.0f} s"
    assert result.returncode == 0, f"install-on-pi failed:\n{result.stderr[-6000:]}"
    service = DeviceService(machine, arm64_lab, CHANNEL)
    release = machine.run("readlink", "/opt/alo-edge/current").stdout.strip().split("/")[-1]
    return Arm64Device(
        machine,
        arm64_lab,
        service,
        token,
        result.stderr,
        f"http://127.0.0.1:{status_port}",
        release,
    )
