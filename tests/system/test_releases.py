"""Updates from bundles: releases side by side, a broken one rolled back by itself, and
``--rollback`` by hand (amd64: under qemu the same steps take several times as long).

The machine starts these tests with the release the system tier installed from its wheels.
Bundles for amd64 leave out the ``pi`` extra (the rootfs has no compiler for pyalsaaudio);
the arm64 tier installs the full one.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.system.appliance import (
    BUNDLES_IN_MACHINE,
    REPO,
    SRC_IN_MACHINE,
    Installation,
    needs_root,
)
from tests.system.bundles import bundle_for
from tests.system.machine import DeviceService, Machine

pytestmark = [needs_root, pytest.mark.timeout(600)]

INSTALLER = f"{SRC_IN_MACHINE}/scripts/install-on-pi"
#: The deliberately broken release: it starts and reports READY, but it sends a token that is
#: not its own, so it never connects where the release before it did.
BREAKAGE = """

# A deliberately broken release (tests/system/test_releases.py): the wrong token.
def read_token(path: object) -> str:
    return "broken.token.value"
"""


@dataclass(frozen=True)
class Bundles:
    good: str
    broken: str


def release_id(bundle: str) -> str:
    """``alo-edge-<release>-amd64.tar`` -> ``<release>``."""
    return bundle.removeprefix("alo-edge-").removesuffix("-amd64.tar")


@pytest.fixture(scope="session")
def bundles(bundle_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Bundles]:
    """A bundle of the working tree, and one of a copy with BREAKAGE and its own version."""
    broken = tmp_path_factory.mktemp("broken-source")
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(REPO / name, broken / name)
    for name in ("alo_edge", "systemd", "config", "scripts"):
        shutil.copytree(REPO / name, broken / name, ignore=shutil.ignore_patterns("__pycache__"))
    init = broken / "alo_edge" / "__init__.py"
    init.write_text(init.read_text().replace('__version__ = "', '__version__ = "9.9.9+broken.', 1))
    access = broken / "alo_edge" / "session" / "access.py"
    access.write_text(access.read_text() + BREAKAGE)
    good = bundle_for("amd64", (), bundle_dir)
    bad = bundle_for("amd64", (), bundle_dir, source=broken)
    yield Bundles(good.name, bad.name)
    shutil.rmtree(broken, ignore_errors=True)


def links(machine: Machine) -> tuple[str, str]:
    """(current, previous) release ids; "" where a link is missing."""
    found = []
    for name in ("current", "previous"):
        target = machine.run("readlink", f"/opt/alo-edge/{name}", check=False).stdout.strip()
        found.append(target.removeprefix("releases/"))
    return found[0], found[1]


def install(machine: Machine, *args: str) -> tuple[int, str]:
    result = machine.run(INSTALLER, "--no-apt", *args, check=False, timeout=600)
    return result.returncode, result.stderr


def test_update_then_rollback_by_hand_and_forward_again(
    service: DeviceService, installed: Installation, bundles: Bundles
) -> None:
    machine = service.machine
    first, _ = links(machine)
    new = release_id(bundles.good)

    code, log = install(machine, "--bundle", f"{BUNDLES_IN_MACHINE}/{bundles.good}")

    assert code == 0, log
    assert "checksums verified" in log
    assert f"switching to release {new} (from {first})" in log
    assert f"release {new} is running: CONNECTED" in log
    assert links(machine) == (new, first)
    assert machine.run("ls", "/opt/alo-edge/releases").stdout.split() == sorted([first, new])
    service.wait_connected()

    code, log = install(machine, "--rollback")

    assert code == 0, log
    assert f"rolling back from {new} to {first}" in log
    assert links(machine) == (first, new)
    service.wait_connected()
    service.wait_lab_receiving()

    code, log = install(machine, "--rollback")  # and forward again

    assert code == 0, log
    assert links(machine) == (new, first)
    service.wait_connected()


def test_broken_release_rolls_back_by_itself(
    service: DeviceService, installed: Installation, bundles: Bundles
) -> None:
    machine = service.machine
    good, previous = links(machine)
    broken = release_id(bundles.broken)
    pid_before = service.properties()["MainPID"]
    cursor = machine.journal_cursor()

    code, log = install(
        machine, "--bundle", f"{BUNDLES_IN_MACHINE}/{bundles.broken}", "--health-timeout", "8"
    )

    assert code == 1, log
    assert f"switching to release {broken} (from {good})" in log
    assert "release: broken: not CONNECTED within 8 s" in log
    assert f"release {broken} did not come up: switching back to {good}" in log
    assert f"rolled back to {good}, which is running: CONNECTED" in log
    # The old release runs again (a new process), and --rollback still means "the one before".
    assert links(machine) == (good, previous)
    state = service.wait_connected()
    assert state["MainPID"] != pid_before
    service.wait_lab_receiving()
    marker = f"/opt/alo-edge/releases/{broken}/.rolled-back"
    assert machine.run("test", "-f", marker, check=False).returncode == 0
    # The broken release did run, sent READY, and failed to connect: the journal says why.
    log = machine.unit_log(service.UNIT, after_cursor=cursor)
    assert "token looks like a JWT but its claims cannot be decoded" in log, log[-3000:]
    assert "connection state ACQUIRING_ACCESS -> ERROR" in log, log[-3000:]
