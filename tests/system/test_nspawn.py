"""alo-edge.service under a real systemd (nspawn-booted bookworm), against the lab on loopback.

Each test starts from the unit running and CONNECTED (the ``service`` fixture) and leaves
whatever state it produced; the next fixture call restores it.
"""

from __future__ import annotations

import time

import pytest

from tests.helpers import UNIT_FILE
from tests.system.appliance import (
    CHANNEL,
    CONFIG_IN_MACHINE,
    DEVICE_ID,
    INSTALL_COMMAND,
    SRC_IN_MACHINE,
    UNIT_IN_MACHINE,
    WATCHDOG_SEC,
    Installation,
    device_config,
    install_into,
    needs_root,
)
from tests.system.machine import DeviceService, wait_until

pytestmark = [needs_root, pytest.mark.timeout(600)]


def test_unit_runs_and_reports_connected_in_status(service: DeviceService) -> None:
    state = service.wait_connected()

    assert (state["ActiveState"], state["SubState"]) == ("active", "running")
    assert state["StatusText"].startswith("CONNECTED: ")
    report = service.wait_lab_receiving()
    assert report["connected"] is True
    assert report["framesDecoded"] > 0


def test_token_arrives_as_a_credential(service: DeviceService, installed: Installation) -> None:
    machine = service.machine
    pid = service.properties()["MainPID"]
    environ = machine.run("cat", f"/proc/{pid}/environ").stdout.split("\0")
    credentials = next(e for e in environ if e.startswith("CREDENTIALS_DIRECTORY="))
    directory = credentials.split("=", 1)[1]
    # The service user reads its copy; the source file stays root's alone.
    assert machine.run("stat", "-c", "%U %a", "/etc/alo-edge/token").stdout.split() == [
        "root",
        "600",
    ]
    credential = f"{directory}/alo-token"
    assert machine.run("stat", "-c", "%U", credential).stdout.strip() == "alo-edge"
    assert machine.run("cat", credential).stdout.strip() == installed.token
    assert machine.run("ps", "-o", "user=", "-p", pid).stdout.strip() == "alo-edge"


def test_working_directory_is_the_services_own(service: DeviceService) -> None:
    # lgpio creates its notification pipes in the working directory: it must be writable.
    machine = service.machine
    pid = service.properties()["MainPID"]

    cwd = machine.run("readlink", f"/proc/{pid}/cwd").stdout.strip()

    assert cwd == "/var/lib/alo-edge"
    assert machine.run("stat", "-c", "%U %a", cwd).stdout.split() == ["alo-edge", "700"]


def test_journal_finds_the_connected_record_by_field(service: DeviceService) -> None:
    entries = service.machine.journal("ALO_STATE=CONNECTED", f"_SYSTEMD_UNIT={service.UNIT}")

    assert entries, service.recent_log()
    entry = entries[-1]
    assert entry["ALO_CHANNEL"] == CHANNEL
    assert entry["ALO_DEVICE_ID"] == DEVICE_ID
    assert entry["_TRANSPORT"] == "journal"  # native fields, not parsed from stderr text


def test_token_never_reaches_the_journal(service: DeviceService, installed: Installation) -> None:
    everything = service.machine.run("journalctl", "--output=export", "--all").stdout

    assert installed.token not in everything
    assert installed.token.split(".")[-1] not in everything  # not even the JWT's signature


def test_frozen_service_is_killed_by_the_watchdog_and_restarted(service: DeviceService) -> None:
    machine = service.machine
    before = service.properties()
    cursor = machine.journal_cursor()

    # A stopped process is a wedged event loop: it sends no WATCHDOG=1 and answers nothing.
    machine.run("kill", "-STOP", before["MainPID"])

    def restarted() -> dict[str, str] | None:
        now = service.properties()
        return now if int(now["NRestarts"]) > int(before["NRestarts"]) else None

    # WatchdogSec, then SIGABRT (systemd follows it with SIGCONT), RestartSec, startup.
    after = wait_until(restarted, WATCHDOG_SEC + 20, "systemd to restart the frozen service")
    assert int(after["NRestarts"]) == int(before["NRestarts"]) + 1
    state = service.wait_connected()
    assert state["MainPID"] != before["MainPID"]
    log = machine.unit_log(service.UNIT, after_cursor=cursor)
    assert f"Watchdog timeout (limit {WATCHDOG_SEC}s)" in log, log


def test_reload_sends_sighup_and_keeps_running(service: DeviceService) -> None:
    before = service.properties()
    cursor = service.machine.journal_cursor()

    service.systemctl("reload")

    def logged() -> str | None:
        log = service.machine.unit_log(service.UNIT, after_cursor=cursor)
        return log if "SIGHUP" in log else None

    log = wait_until(logged, 10, "the service to log the SIGHUP")
    assert "configuration unchanged" in log
    after = service.wait_connected()
    assert (after["MainPID"], after["NRestarts"]) == (before["MainPID"], before["NRestarts"])


def test_stop_leaves_the_channel_within_3_seconds(service: DeviceService) -> None:
    service.wait_lab_receiving()
    report = service.lab.channel(CHANNEL)
    assert report is not None
    deletes_before = report["deletes"]

    started = time.monotonic()
    service.systemctl("stop")  # returns once the main process is gone
    took = time.monotonic() - started

    state = service.properties()
    assert took < 3.0, f"systemctl stop took {took:.2f} s"
    assert (state["ActiveState"], state["Result"], state["ExecMainStatus"]) == (
        "inactive",
        "success",
        "0",
    )
    # The DELETE was answered before the process exited, so the lab has counted it.
    after = service.lab.channel(CHANNEL)
    assert after is not None
    assert after["deletes"] == deletes_before + 1


def test_broken_config_exits_78_and_is_not_restarted(service: DeviceService) -> None:
    machine = service.machine
    cursor = machine.journal_cursor()
    machine.write_file(CONFIG_IN_MACHINE, device_config(service.lab.url, broken=True))

    restart = service.systemctl("restart", check=False)

    assert restart.returncode != 0  # Type=notify: the start job fails, READY never came

    def failed() -> dict[str, str] | None:
        now = service.properties()
        return now if now["ActiveState"] == "failed" else None

    state = wait_until(failed, 15, "the unit to fail")
    assert (state["Result"], state["ExecMainStatus"], state["NRestarts"]) == (
        "exit-code",
        "78",
        "0",
    )
    time.sleep(3)  # three RestartSec periods: RestartPreventExitStatus=78 must hold
    state = service.properties()
    assert (state["ActiveState"], state["NRestarts"]) == ("failed", "0")
    log = machine.unit_log(service.UNIT, after_cursor=cursor)
    assert "configuration error" in log
    assert "did you mean 'channel'" in log


def test_installer_is_idempotent(service: DeviceService, installed: Installation) -> None:
    machine = service.machine
    config_before = machine.run("cat", CONFIG_IN_MACHINE).stdout

    rerun = machine.run(*INSTALL_COMMAND, timeout=300)

    assert "user alo-edge exists" in rerun.stderr
    assert "is installed" in rerun.stderr  # the same release: nothing to build
    assert "is already current" in rerun.stderr
    assert "kept /etc/alo-edge/config.toml" in rerun.stderr
    assert "is up to date" in rerun.stderr
    assert machine.run("cat", CONFIG_IN_MACHINE).stdout == config_before
    assert machine.run("cat", UNIT_IN_MACHINE).stdout == UNIT_FILE.read_text()
    assert machine.run("systemctl", "is-enabled", service.UNIT).stdout.strip() == "enabled"
    service.wait_connected()


def test_uninstall_keeps_the_config_and_purge_removes_everything(
    service: DeviceService, installed: Installation
) -> None:
    machine = service.machine
    uninstaller = f"{SRC_IN_MACHINE}/scripts/install-on-pi"

    def exists(path: str) -> bool:
        return machine.run("test", "-e", path, check=False).returncode == 0

    try:
        machine.run(uninstaller, "--uninstall")

        assert service.properties()["ActiveState"] == "inactive"
        assert not exists(UNIT_IN_MACHINE)
        assert not exists("/opt/alo-edge")
        assert exists(CONFIG_IN_MACHINE)
        assert exists("/etc/alo-edge/token")
        assert machine.run("id", "alo-edge", check=False).returncode == 0

        machine.run(uninstaller, "--uninstall", "--purge")

        assert not exists("/etc/alo-edge")
        assert machine.run("id", "alo-edge", check=False).returncode != 0
    finally:
        install_into(machine, service.lab.url, installed.token)
    service.wait_connected()
