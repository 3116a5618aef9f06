"""The unit's credentials under a real systemd 252: a token, a client secret, or neither.

alo-edge.service loads both ``/etc/alo-edge/token`` (credential ``alo-token``) and
``/etc/alo-edge/client-secret`` (``alo-client-secret``); a device has one of them. Each
``SetCredential=`` is the default for a missing file, so the unit starts with either (the
other tests run with a token only), and with neither it runs and says what it needs.
Each test restores the token install it found.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import run_cli
from tests.system.appliance import (
    CONFIG_IN_MACHINE,
    INSTALLER,
    USER_ID,
    Installation,
    device_config,
    needs_root,
)
from tests.system.machine import DeviceService, wait_until

TOKEN = "/etc/alo-edge/token"
SAVED_TOKEN = "/root/alo-token.saved"
SECRET = "/etc/alo-edge/client-secret"


def _with_alo_keys(config: str, **keys: str) -> str:
    lines = "".join(f'{key} = "{value}"\n' for key, value in keys.items())
    return config.replace("[alo]\n", f"[alo]\n{lines}", 1)


@pytest.fixture
def token_set_aside(service: DeviceService, installed: Installation) -> Iterator[None]:
    """The token file moved away for the test; the token install restored afterwards."""
    machine = service.machine
    machine.run("mv", TOKEN, SAVED_TOKEN)
    try:
        yield
    finally:
        machine.run("mv", SAVED_TOKEN, TOKEN)
        machine.run("rm", "-f", SECRET)
        machine.write_file(CONFIG_IN_MACHINE, device_config(installed.lab.url))
        service.systemctl("restart")
        service.wait_connected()


def _log_line(service: DeviceService, cursor: str, text: str) -> str:
    def logged() -> str | None:
        log = service.machine.unit_log(service.UNIT, after_cursor=cursor)
        return log if text in log else None

    return wait_until(logged, 20, f"the journal to say {text!r}")


@needs_root
@pytest.mark.timeout(600)
@pytest.mark.usefixtures("token_set_aside")
def test_a_device_with_only_a_client_secret_fetches_its_own_tokens(
    service: DeviceService, installed: Installation, tmp_path: Path
) -> None:
    machine, lab = service.machine, installed.lab
    out = tmp_path / "client-secret"
    issued = run_cli(
        "token",
        "--lab",
        lab.url,
        "--api-key-file",
        str(lab.state_dir / "api_key"),
        "--client",
        USER_ID,
        "--out",
        str(out),
    )
    assert issued.returncode == 0, issued.stderr
    secret = out.read_text().strip()
    machine.write_file(SECRET, secret + "\n", mode="0600")
    config = _with_alo_keys(
        device_config(lab.url), token_url=f"{lab.url}/v1/oauth/token", client_id=USER_ID
    )
    machine.write_file(CONFIG_IN_MACHINE, config)
    cursor = machine.journal_cursor()

    service.systemctl("restart")

    state = service.wait_connected()
    _log_line(service, cursor, "token obtained from the token endpoint")
    environ = machine.run("cat", f"/proc/{state['MainPID']}/environ").stdout.split("\0")
    directory = next(e for e in environ if e.startswith("CREDENTIALS_DIRECTORY=")).split("=")[1]
    assert machine.run("cat", f"{directory}/alo-client-secret").stdout.strip() == secret
    assert machine.run("stat", "-c", "%U %a", SECRET).stdout.split() == ["root", "600"]
    everything = machine.run("journalctl", "--output=export", "--all").stdout
    assert secret not in everything


@needs_root
@pytest.mark.timeout(600)
@pytest.mark.usefixtures("token_set_aside")
def test_a_device_with_neither_file_runs_and_names_the_file_it_needs(
    service: DeviceService,
) -> None:
    cursor = service.machine.journal_cursor()

    service.systemctl("restart")

    log = _log_line(service, cursor, "the systemd credential 'alo-token' is empty")
    assert "/etc/alo-edge/token was missing when the service started" in log
    assert "243/CREDENTIALS" not in log
    state = service.properties()
    assert (state["ActiveState"], state["SubState"]) == ("active", "running")


@needs_root
@pytest.mark.timeout(600)
def test_a_token_file_under_home_is_reported_as_hidden_by_protect_home(
    service: DeviceService, installed: Installation
) -> None:
    machine = service.machine
    machine.run("mkdir", "-p", "/home/pi")
    machine.write_file("/home/pi/alo-token", installed.token + "\n", mode="0644")
    config = _with_alo_keys(device_config(installed.lab.url), token_file="/home/pi/alo-token")
    machine.write_file(CONFIG_IN_MACHINE, config)
    cursor = machine.journal_cursor()
    try:
        service.systemctl("restart")

        log = _log_line(service, cursor, "cannot be seen by the service")
        assert "ProtectHome=yes" in log
        assert "/home/pi/alo-token does not exist" not in log
    finally:
        machine.run("rm", "-rf", "/home/pi")
        machine.write_file(CONFIG_IN_MACHINE, device_config(installed.lab.url))
        service.systemctl("restart")
    service.wait_connected()


def test_installer_dry_run_installs_a_client_secret_root_only(tmp_path: Path) -> None:
    secret = tmp_path / "client-secret"
    secret.write_text("not-a-real-secret\n")

    result = subprocess.run(
        [str(INSTALLER), "--dry-run", "--no-apt", "--client-secret-file", str(secret)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert result.returncode == 0, result.stderr
    assert (
        f"would run: install -m 0600 -o root -g root {secret} /etc/alo-edge/client-secret"
        in result.stderr
    )
    assert "not-a-real-secret" not in result.stderr + result.stdout
