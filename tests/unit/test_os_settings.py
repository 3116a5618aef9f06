"""The OS-setting pre-flight checks, against files laid out as on a Pi (in a temporary root)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest

from alo_edge.config import Config
from alo_edge.preflight import default_checks
from alo_edge.preflight.base import Finding, Verdict
from alo_edge.preflight.os_settings import (
    JournalCheck,
    TimeSyncCheck,
    WatchdogCheck,
    WifiPowerSaveCheck,
    parse_seconds,
)
from alo_edge.system.timesync import NOT_SYNCHRONIZED, TimeSyncReader

CONFIG = Config()
WATCHDOG_CONF = "etc/systemd/system.conf.d/50-alo-edge-watchdog.conf"
NM_CONF = "etc/NetworkManager/conf.d/50-alo-edge-wifi-powersave.conf"
JOURNAL_CONF = "etc/systemd/journald.conf.d/50-alo-edge.conf"


def write(root: Path, relative: str, text: str = "") -> Path:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


@pytest.fixture
def pi(tmp_path: Path) -> Path:
    """A root where systemd runs (what every check needs before it looks further)."""
    (tmp_path / "run/systemd/system").mkdir(parents=True)
    return tmp_path


def bcm2835_watchdog(root: Path, state: str = "active", timeout: int = 14) -> None:
    device = "sys/class/watchdog/watchdog0"
    write(root, f"{device}/identity", "Broadcom BCM2835 Watchdog timer\n")
    write(root, f"{device}/state", f"{state}\n")
    write(root, f"{device}/timeout", f"{timeout}\n")


def lines(findings: list[Finding]) -> list[tuple[Verdict, str]]:
    return [(f.verdict, f.line()) for f in findings]


def test_the_os_checks_are_part_of_alo_edge_check() -> None:
    names = [check.name for check in default_checks()]

    assert [name for name in names if name in ("watchdog", "wifi", "journal", "time")] == [
        "watchdog",
        "wifi",
        "journal",
        "time",
    ]


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("14s", 14.0), ("14", 14.0), ("1min 30s", 90.0), ("500ms", 0.5), ("off", 0.0), ("x", None)],
)
def test_systemd_time_spans_parse(text: str, seconds: float | None) -> None:
    assert parse_seconds(text) == seconds


def test_watchdog_in_effect_is_ok(pi: Path) -> None:
    write(pi, "etc/systemd/system.conf", "[Manager]\n#RuntimeWatchdogSec=off\n")
    write(pi, WATCHDOG_CONF, "[Manager]\nRuntimeWatchdogSec=14s\n")
    bcm2835_watchdog(pi)

    findings = WatchdogCheck(pi).run(CONFIG)

    assert lines(findings) == [
        (
            Verdict.OK,
            f"watchdog: RuntimeWatchdogSec=14s (/{WATCHDOG_CONF}); in effect: watchdog0 "
            "(Broadcom BCM2835 Watchdog timer) active, 14 s",
        )
    ]


def test_watchdog_above_the_pis_limit_fails(pi: Path) -> None:
    # systemd issue 27427: 20 s is EINVAL on a Pi, and then there is no watchdog at all.
    write(pi, WATCHDOG_CONF, "[Manager]\nRuntimeWatchdogSec=20s\n")
    bcm2835_watchdog(pi, state="inactive", timeout=15)

    (finding,) = WatchdogCheck(pi).run(CONFIG)

    assert finding.verdict is Verdict.FAIL
    assert "is above the Pi's 15 s limit: systemd then runs with no watchdog" in finding.message


def test_watchdog_configured_but_not_running_fails_with_the_fix(pi: Path) -> None:
    write(pi, WATCHDOG_CONF, "[Manager]\nRuntimeWatchdogSec=14s\n")
    bcm2835_watchdog(pi, state="inactive", timeout=15)

    (finding,) = WatchdogCheck(pi).run(CONFIG)

    assert finding.verdict is Verdict.FAIL
    assert finding.message.endswith(
        "but not in effect: watchdog0 (Broadcom BCM2835 Watchdog timer) is inactive with a "
        "15 s timeout"
    )
    assert finding.fix == "sudo systemctl daemon-reexec"


def test_a_later_drop_in_wins(pi: Path) -> None:
    write(pi, WATCHDOG_CONF, "[Manager]\nRuntimeWatchdogSec=14s\n")
    write(pi, "etc/systemd/system.conf.d/90-local.conf", "[Manager]\nRuntimeWatchdogSec=off\n")

    (finding,) = WatchdogCheck(pi).run(CONFIG)

    assert (finding.verdict, finding.message) == (
        Verdict.WARN,
        "RuntimeWatchdogSec=off (/etc/systemd/system.conf.d/90-local.conf): the watchdog is off",
    )


def test_watchdog_unset_warns_and_names_the_installer(pi: Path) -> None:
    (finding,) = WatchdogCheck(pi).run(CONFIG)

    assert (finding.verdict, finding.message) == (Verdict.WARN, "RuntimeWatchdogSec is not set")
    assert finding.fix == "sudo scripts/install-on-pi --os-settings-only"


def test_without_systemd_the_os_checks_skip(tmp_path: Path) -> None:
    for check in (WatchdogCheck(tmp_path), WifiPowerSaveCheck(tmp_path), JournalCheck(tmp_path)):
        (finding,) = check.run(CONFIG)
        assert finding.verdict is Verdict.SKIP


def iw(states: dict[str, str]):  # type: ignore[no-untyped-def]
    def runner(argv: Sequence[str]) -> str | None:
        assert list(argv[:2]) == ["iw", "dev"]
        state = states.get(argv[2])
        return None if state is None else f"Power save: {state}\n"

    return runner


def test_wifi_power_save_off_in_config_and_on_the_interface(pi: Path) -> None:
    write(pi, NM_CONF, "[connection]\nwifi.powersave = 2\n")
    write(pi, "usr/sbin/NetworkManager")
    (pi / "sys/class/net/wlan0/wireless").mkdir(parents=True)
    (pi / "sys/class/net/eth0").mkdir(parents=True)

    findings = WifiPowerSaveCheck(pi, iw({"wlan0": "off"})).run(CONFIG)

    assert lines(findings) == [
        (Verdict.OK, f"wifi: power save off (/{NM_CONF})"),
        (Verdict.OK, "wifi: wlan0: power save off"),
    ]


def test_wifi_power_save_still_on_fails(pi: Path) -> None:
    write(pi, NM_CONF, "[connection]\nwifi.powersave = 2\n")
    write(pi, "usr/sbin/NetworkManager")
    (pi / "sys/class/net/wlan0/wireless").mkdir(parents=True)

    findings = WifiPowerSaveCheck(pi, iw({"wlan0": "on"})).run(CONFIG)

    assert findings[-1].verdict is Verdict.FAIL
    assert findings[-1].message == "wlan0: power save is on now"


def test_wifi_power_save_unset_fails_and_a_profile_override_is_named(pi: Path) -> None:
    write(pi, "etc/NetworkManager/NetworkManager.conf", "[main]\nplugins=ifupdown,keyfile\n")
    write(
        pi,
        "etc/NetworkManager/system-connections/preconfigured.nmconnection",
        "[connection]\nid=preconfigured\ntype=wifi\n[wifi]\nssid=door\npowersave=3\n",
    )

    findings = WifiPowerSaveCheck(pi, iw({})).run(CONFIG)

    assert lines(findings) == [
        (
            Verdict.FAIL,
            "wifi: power save not set (NetworkManager's default: on); "
            "fix: sudo scripts/install-on-pi --os-settings-only",
        ),
        (
            Verdict.FAIL,
            "wifi: connection profile preconfigured.nmconnection turns power save on "
            "(powersave=3); fix: sudo nmcli connection modify 'preconfigured' "
            "802-11-wireless.powersave 2",
        ),
        (Verdict.OK, "wifi: no Wi-Fi interface on this machine"),
    ]


def test_journal_in_ram_with_a_cap(pi: Path) -> None:
    write(pi, JOURNAL_CONF, "[Journal]\nStorage=volatile\nRuntimeMaxUse=32M\n")
    write(pi, "run/log/journal/0123abcd/system.journal")

    (finding,) = JournalCheck(pi).run(CONFIG)

    assert (finding.verdict, finding.message) == (
        Verdict.OK,
        "in RAM (Storage=volatile, /run/log/journal), at most 32M",
    )


def test_journal_on_the_sd_card_fails(pi: Path) -> None:
    write(pi, "etc/systemd/journald.conf", "[Journal]\n#Storage=auto\n")

    (finding,) = JournalCheck(pi).run(CONFIG)

    assert (finding.verdict, finding.message) == (
        Verdict.FAIL,
        "Storage=auto: the journal is written to the SD card",
    )


def test_journal_configured_but_journald_not_restarted(pi: Path) -> None:
    write(pi, JOURNAL_CONF, "[Journal]\nStorage=volatile\nRuntimeMaxUse=32M\n")

    (finding,) = JournalCheck(pi).run(CONFIG)

    assert finding.verdict is Verdict.FAIL
    assert finding.fix == "sudo systemctl restart systemd-journald"


def test_time_not_synchronized_says_exactly_that(pi: Path) -> None:
    (pi / "run/systemd/timesync").mkdir(parents=True)  # timesyncd runs, no flag yet
    write(pi, "etc/systemd/system/sysinit.target.wants/systemd-time-wait-sync.service")
    reader = TimeSyncReader(pi, kernel=lambda: None, runner=lambda argv: None)

    findings = TimeSyncCheck(pi, reader).run(CONFIG)

    assert lines(findings) == [
        (
            Verdict.WARN,
            f"time: {NOT_SYNCHRONIZED} (systemd-timesyncd has not synchronized yet): TLS "
            "certificates and token times are judged against a wrong clock; fix: let the "
            "device reach an NTP server (timedatectl timesync-status)",
        ),
        (
            Verdict.OK,
            "time: alo-edge starts after time-sync.target (systemd-time-wait-sync is enabled)",
        ),
    ]


def test_time_synchronized_but_nothing_waits_for_it_at_boot(pi: Path) -> None:
    write(pi, "run/systemd/timesync/synchronized")
    reader = TimeSyncReader(pi, kernel=lambda: None, runner=lambda argv: None)

    findings = TimeSyncCheck(pi, reader).run(CONFIG)

    assert [f.verdict for f in findings] == [Verdict.OK, Verdict.WARN]
    assert findings[0].message == "the system clock is synchronized (systemd-timesyncd)"
    assert findings[1].message.startswith("nothing waits for the clock at boot")
