"""The appliance as the system tier sets it up: paths, the device config, the installer run.

The fixtures in conftest.py use these; the tests use them to know where things are.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.system.machine import LabServer, Machine

REPO = Path(__file__).resolve().parents[2]
INSTALLER = REPO / "scripts" / "install-on-pi"
CHANNEL = "front-door"
USER_ID = "door-42"
DEVICE_ID = "nspawn-door"
# Where the host's files appear in the container (read-only binds).
SRC_IN_MACHINE = "/mnt/alo-edge"
WHEELS_IN_MACHINE = "/mnt/wheels"
BUNDLES_IN_MACHINE = "/mnt/bundles"
TOKEN_IN_MACHINE = "/root/alo-token"
CONFIG_IN_MACHINE = "/etc/alo-edge/config.toml"
UNIT_IN_MACHINE = "/etc/systemd/system/alo-edge.service"
# The installer as the system tier runs it: apt's part is in the rootfs already, and the
# project comes from the host-built wheels (the extra "pi" needs a Pi's build tools).
INSTALL_COMMAND = (
    f"{SRC_IN_MACHINE}/scripts/install-on-pi",
    "--no-apt",
    "--wheel-dir",
    WHEELS_IN_MACHINE,
    "--extras",
    "",
)
# A short watchdog and restart delay keep the watchdog test fast; everything else is the
# repository's unit as installed.
DROP_IN_IN_MACHINE = "/etc/systemd/system/alo-edge.service.d/50-system-test.conf"
WATCHDOG_SEC = 3
DROP_IN = f"""[Service]
WatchdogSec={WATCHDOG_SEC}s
RestartSec=1s
"""

needs_root = pytest.mark.skipif(
    os.geteuid() != 0,
    reason="the system tier boots systemd in systemd-nspawn and debootstraps a rootfs: needs root",
)


#: The [video] table of the test device: the synthetic camera, small.
SYNTHETIC_VIDEO = """source = "synthetic"
width = 320
height = 240
fps = 15"""


def device_config(lab_url: str, *, broken: bool = False, video: str = SYNTHETIC_VIDEO) -> str:
    """The device's config.toml for the container: the example's shape, pointed at the lab.

    ``video`` replaces the body of the ``[video]`` table (a camera that is not there ...).
    """
    # No alo.token_file: under systemd the token is the credential alo-token.
    alo_channel = 'chanel = "front-door"' if broken else f'channel = "{CHANNEL}"'
    return f"""\
[device]
user_id = "{USER_ID}"
name = "Door in a container"
device_id = "{DEVICE_ID}"

[alo]
access_url = "{lab_url}/v1/video/access"
transport = "whip"
{alo_channel}

[network]
host_addresses = ["127.0.0.1"]

[video]
{video}

[audio]
source = "synthetic"

[log]
level = "info"
"""


@dataclass(frozen=True)
class Installation:
    machine: Machine
    lab: LabServer
    token: str
    installer_log: str


def install_into(machine: Machine, lab_url: str, token: str) -> str:
    """Run scripts/install-on-pi in the container (offline, from the wheels); its messages.

    The test's config and the short-watchdog drop-in are put in place first: the installer
    keeps an existing config, and its daemon-reload picks the drop-in up.
    """
    machine.write_file(CONFIG_IN_MACHINE, device_config(lab_url))
    machine.write_file(DROP_IN_IN_MACHINE, DROP_IN)
    machine.write_file(TOKEN_IN_MACHINE, token + "\n", mode="0600")
    result = machine.run(*INSTALL_COMMAND, "--token-file", TOKEN_IN_MACHINE, timeout=300)
    return result.stderr
