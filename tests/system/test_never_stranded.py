"""systemd never gives up on the device, except on a broken config; memory stays bounded.

Under the real systemd in the container (see conftest.py): a camera missing at start keeps
the unit active and retrying (the process waits for the camera, it does not exit); a
service that keeps failing at start is restarted for as long as it takes, never left
failed by the start limit, and heals once the cause is gone; its memory is measured
against the unit's MemoryMax=. The
broken config's exit 78 staying stopped is test_nspawn.py's
test_broken_config_exits_78_and_is_not_restarted.
"""

from __future__ import annotations

import re

import pytest

from tests.helpers import UNIT_FILE
from tests.system.appliance import (
    CONFIG_IN_MACHINE,
    device_config,
    needs_root,
)
from tests.system.machine import DeviceService, wait_until

pytestmark = [needs_root, pytest.mark.timeout(600)]

#: A V4L2 camera nobody has: PyAV's open fails as it does for an unplugged USB camera.
MISSING_CAMERA = """source = "v4l2"
device = "/dev/video9"
width = 320
height = 240
fps = 15"""
FAST_RESTART_DROP_IN = "/etc/systemd/system/alo-edge.service.d/60-fast-restart.conf"
#: The file the failing-start test's ExecStartPre= waits for.
START_GATE = "/run/alo-edge-test-start-gate"


def _restore(service: DeviceService) -> None:
    """The good config back; the next test's ``service`` fixture starts the unit again."""
    machine = service.machine
    machine.run("rm", "-f", FAST_RESTART_DROP_IN)
    machine.run("systemctl", "daemon-reload")
    machine.write_file(CONFIG_IN_MACHINE, device_config(service.lab.url))
    service.systemctl("stop", check=False)
    service.systemctl("reset-failed", check=False)


def test_a_missing_camera_keeps_the_unit_active_and_retrying(service: DeviceService) -> None:
    machine = service.machine
    cursor = machine.journal_cursor()
    machine.write_file(CONFIG_IN_MACHINE, device_config(service.lab.url, video=MISSING_CAMERA))
    try:
        # Type=notify: the restart job succeeds only once READY=1 arrived.
        restart = service.systemctl("restart", check=False)
        assert restart.returncode == 0, restart.stderr
        before = service.properties()

        def retried_three_times() -> str | None:
            log = machine.unit_log(service.UNIT, after_cursor=cursor)
            attempts = log.count("connection failed: camera /dev/video9 cannot be opened")
            return log if attempts >= 3 else None

        log = wait_until(retried_three_times, 30, "three attempts to open the missing camera")
        after = service.properties()
        assert (after["ActiveState"], after["SubState"]) == ("active", "running")
        assert (after["MainPID"], after["NRestarts"]) == (before["MainPID"], before["NRestarts"])
        assert re.match(r"(ERROR|RECONNECT_PENDING): ", after["StatusText"]), after
        assert "waiting for it (retrying with backoff)" in log  # the onDeviceListUpdate warning
        assert "status=69" not in log
    finally:
        _restore(service)


def test_a_service_failing_at_start_is_restarted_forever_not_left_failed(
    service: DeviceService,
) -> None:
    # 73a265e's unit gave up after 10 failed starts in 5 minutes ("start-limit-hit"),
    # then stayed failed until someone ran reset-failed on the device. The failure here is
    # a start step that fails until a file appears (an ExecStartPre= in a drop-in): systemd
    # counts it as a failed start, and a dozen of them take a second or two. (A missing
    # token no longer fails the start: SetCredential= gives the credential an empty
    # default and the service says which file it needs.)
    machine = service.machine
    machine.run("rm", "-f", START_GATE)
    machine.write_file(
        FAST_RESTART_DROP_IN,
        f"[Service]\nRestartSec=100ms\nExecStartPre=/usr/bin/test -e {START_GATE}\n",
    )
    machine.run("systemctl", "daemon-reload")
    try:
        service.systemctl("restart", check=False)

        def restarted_a_dozen_times() -> dict[str, str] | None:
            now = service.properties()
            assert now["ActiveState"] != "failed", now  # 73a265e: failed, start-limit-hit
            return now if int(now["NRestarts"]) >= 12 else None

        state = wait_until(restarted_a_dozen_times, 60, "a dozen restarts", interval=0.2)
        assert state["ActiveState"] in ("activating", "active"), state
        machine.write_file(START_GATE, "")  # the fix arrives ...
        service.wait_connected()  # ... and the unit, still trying, heals by itself
    finally:
        machine.run("rm", "-f", START_GATE)
        _restore(service)


def test_the_services_memory_stays_far_below_its_memory_max(service: DeviceService) -> None:
    service.wait_lab_receiving()
    limit = next(
        line.split("=", 1)[1]
        for line in UNIT_FILE.read_text().splitlines()
        if line.startswith("MemoryMax=")
    )
    assert limit.endswith("M")
    limit_kib = int(limit[:-1]) * 1024
    shown = service.machine.unit_properties(service.UNIT, "MemoryMax")["MemoryMax"]
    assert shown == str(limit_kib * 1024)  # systemd took the setting
    pid = service.properties()["MainPID"]
    status = service.machine.run("cat", f"/proc/{pid}/status").stdout
    rss_kib = int(re.search(r"VmRSS:\s+(\d+) kB", status).group(1))  # type: ignore[union-attr]
    hwm_kib = int(re.search(r"VmHWM:\s+(\d+) kB", status).group(1))  # type: ignore[union-attr]
    print(f"alo-edge.service: RSS {rss_kib / 1024:.0f} MiB, peak {hwm_kib / 1024:.0f} MiB")
    # Headroom: the cap is at least twice the peak (a Janus room's talk-back, malloc arenas
    # filling over the first few hundred reconnects).
    assert hwm_kib * 2 <= limit_kib, (hwm_kib, limit_kib)
    # ... arenas the unit caps (Environment=): the service runs with that cap.
    environment = service.machine.run("cat", f"/proc/{pid}/environ").stdout.split("\0")
    assert "MALLOC_ARENA_MAX=2" in environment, environment
