"""Pre-flight checks of the OS settings a field Pi needs (``scripts/install-on-pi`` sets them).

- ``watchdog``: systemd feeds the hardware watchdog (``RuntimeWatchdogSec=14s``), so a hung
  kernel or a wedged PID 1 reboots the board. The Pi's watchdog tops out near 15 s; a larger
  value fails with EINVAL and systemd silently runs with no watchdog (systemd issue 27427),
  so the check reads the watchdog device itself to see that it took effect.
- ``wifi``: power save off through NetworkManager (bookworm's network stack): with it on, a
  Pi Zero W's p99 round trip is 0.8-2 s instead of 19-31 ms (raspberrypi/linux issue 7533).
- ``journal``: the journal in RAM with a size cap (``Storage=volatile``, ``RuntimeMaxUse=``),
  so logging does not wear out the SD card.
- ``time``: the clock is NTP-synchronized, and the service waits for ``time-sync.target``.

Each reads files under ``root`` (``/``; tests lay out a Pi's files in a temporary directory)
and, for what only a command can tell (``iw``), a runner. Where systemd is not PID 1 (a
development container) none of this applies and each check says so.
"""

from __future__ import annotations

import configparser
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from alo_edge.config import Config
from alo_edge.preflight.base import Finding, Verdict
from alo_edge.system.pi_sensors import Runner, run_command
from alo_edge.system.timesync import NOT_SYNCHRONIZED, WHY_IT_MATTERS, TimeSyncReader

#: What the installer sets, and the Pi's limit.
WATCHDOG_SECONDS = 14
PI_WATCHDOG_MAX_SECONDS = 15
#: NetworkManager's wifi.powersave values.
POWERSAVE = {"0": "default", "1": "ignore", "2": "off", "3": "on"}
FIX_BY_INSTALLER = "sudo scripts/install-on-pi --os-settings-only"
TIME_WAIT_SYNC_WANTS = "etc/systemd/system/sysinit.target.wants/systemd-time-wait-sync.service"
_UNITS = {"us": 1e-6, "ms": 1e-3, "s": 1.0, "sec": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0}


def _no_systemd(root: Path, check: str) -> list[Finding] | None:
    if (root / "run/systemd/system").is_dir():
        return None
    message = "systemd is not running here (not an installed device): nothing to check"
    return [Finding(check, Verdict.SKIP, message)]


def read_conf(files: Iterable[Path], section: str) -> dict[str, tuple[str, Path]]:
    """``key -> (value, file)`` of ``[section]`` across ``files`` in order (later wins).

    systemd's and NetworkManager's files are INI-like; configparser reads both (a key
    without section is not valid in either).
    """
    values: dict[str, tuple[str, Path]] = {}
    for path in files:
        parser = configparser.ConfigParser(interpolation=None, strict=False)
        parser.optionxform = str  # type: ignore[assignment,method-assign]
        try:
            parser.read_string(path.read_text(errors="replace"), source=str(path))
        except (OSError, configparser.Error):
            continue
        if parser.has_section(section):
            for key, value in parser.items(section):
                values[key] = (value.strip(), path)
    return values


def drop_in_files(root: Path, main: str, directory: str, lib: str = "usr/lib") -> list[Path]:
    """``main`` then the ``*.conf`` drop-ins of ``directory`` (etc over run over lib), by name."""
    by_name: dict[str, Path] = {}
    for base in (f"{lib}/{directory}", f"run/{directory}", f"etc/{directory}"):
        for path in sorted((root / base).glob("*.conf")):
            by_name[path.name] = path
    return [root / "etc" / main, *(by_name[name] for name in sorted(by_name))]


def parse_seconds(text: str) -> float | None:
    """A systemd time span (``14s``, ``1min 30s``, ``14``) in seconds; 0 for off; None if bad."""
    text = text.strip().lower()
    if text in ("off", "0", "", "infinity", "default"):
        return 0.0
    total = 0.0
    for number, unit in re.findall(r"([\d.]+)\s*([a-z]*)", text):
        if unit and unit not in _UNITS:
            return None
        total += float(number) * _UNITS.get(unit, 1.0)
    return total if re.fullmatch(r"(\s*[\d.]+\s*[a-z]*)+", text) else None


@dataclass(frozen=True)
class HardwareWatchdog:
    """``/sys/class/watchdog/watchdogN``: who it is, whether it runs, its timeout."""

    name: str
    identity: str
    state: str | None
    timeout: int | None


def hardware_watchdogs(root: Path) -> list[HardwareWatchdog]:
    found = []
    for device in sorted((root / "sys/class/watchdog").glob("watchdog*")):

        def read(attribute: str, device: Path = device) -> str | None:
            try:
                return (device / attribute).read_text().strip()
            except OSError:
                return None

        timeout = read("timeout")
        found.append(
            HardwareWatchdog(
                device.name,
                read("identity") or "unknown",
                read("state"),
                int(timeout) if timeout and timeout.isdigit() else None,
            )
        )
    return found


class WatchdogCheck:
    """``RuntimeWatchdogSec`` is set, within the Pi's limit, and the hardware watchdog runs."""

    name = "watchdog"

    def __init__(self, root: Path = Path("/")) -> None:
        self._root = root

    def run(self, config: Config) -> list[Finding]:
        skipped = _no_systemd(self._root, self.name)
        if skipped is not None:
            return skipped
        files = drop_in_files(self._root, "systemd/system.conf", "systemd/system.conf.d")
        setting = read_conf(files, "Manager").get("RuntimeWatchdogSec")
        fix = FIX_BY_INSTALLER
        if setting is None:
            return [Finding(self.name, Verdict.WARN, "RuntimeWatchdogSec is not set", fix)]
        value, where = setting
        seconds = parse_seconds(value)
        shown = f"RuntimeWatchdogSec={value} ({self._shown(where)})"
        if seconds is None:
            return [Finding(self.name, Verdict.FAIL, f"{shown} does not parse", fix)]
        if seconds == 0:
            return [Finding(self.name, Verdict.WARN, f"{shown}: the watchdog is off", fix)]
        if seconds > PI_WATCHDOG_MAX_SECONDS:
            message = (
                f"{shown} is above the Pi's {PI_WATCHDOG_MAX_SECONDS} s limit: systemd then "
                "runs with no watchdog at all"
            )
            return [Finding(self.name, Verdict.FAIL, message, fix)]
        devices = hardware_watchdogs(self._root)
        if not devices:
            message = (
                f"{shown}, but this machine has no hardware watchdog "
                "(a container, or the watchdog driver is not loaded): not in effect"
            )
            return [Finding(self.name, Verdict.WARN, message)]
        device = devices[0]
        if device.state == "active" and device.timeout == round(seconds):
            message = (
                f"{shown}; in effect: {device.name} ({device.identity}) active, {device.timeout} s"
            )
            return [Finding(self.name, Verdict.OK, message)]
        message = (
            f"{shown}, but not in effect: {device.name} ({device.identity}) is "
            f"{device.state or 'in an unknown state'} with a {device.timeout} s timeout"
        )
        return [Finding(self.name, Verdict.FAIL, message, "sudo systemctl daemon-reexec")]

    def _shown(self, path: Path) -> str:
        return f"/{path.relative_to(self._root)}"


class WifiPowerSaveCheck:
    """NetworkManager turns Wi-Fi power save off, and each Wi-Fi interface has it off."""

    name = "wifi"

    def __init__(self, root: Path = Path("/"), runner: Runner = run_command) -> None:
        self._root = root
        self._runner = runner

    def run(self, config: Config) -> list[Finding]:
        skipped = _no_systemd(self._root, self.name)
        if skipped is not None:
            return skipped
        files = drop_in_files(
            self._root, "NetworkManager/NetworkManager.conf", "NetworkManager/conf.d", "usr/lib"
        )
        setting = read_conf(files, "connection").get("wifi.powersave")
        findings: list[Finding] = []
        if setting is None or POWERSAVE.get(setting[0]) != "off":
            value = (
                "not set (NetworkManager's default: on)"
                if setting is None
                else (
                    f"wifi.powersave = {setting[0]} ({POWERSAVE.get(setting[0], '?')}) in "
                    f"/{setting[1].relative_to(self._root)}"
                )
            )
            findings.append(
                Finding(self.name, Verdict.FAIL, f"power save {value}", FIX_BY_INSTALLER)
            )
        else:
            where = f"/{setting[1].relative_to(self._root)}"
            installed = (self._root / "usr/sbin/NetworkManager").exists()
            if installed:
                findings.append(Finding(self.name, Verdict.OK, f"power save off ({where})"))
            else:
                message = f"power save off ({where}), but NetworkManager is not installed here"
                findings.append(Finding(self.name, Verdict.WARN, message))
        findings += self._profiles_overriding()
        findings += self._interfaces()
        return findings

    def _profiles_overriding(self) -> list[Finding]:
        found = []
        profiles = sorted((self._root / "etc/NetworkManager/system-connections").glob("*"))
        for profile in profiles:
            powersave = read_conf([profile], "wifi").get("powersave")
            if powersave is not None and POWERSAVE.get(powersave[0]) == "on":
                message = f"connection profile {profile.name} turns power save on (powersave=3)"
                fix = f"sudo nmcli connection modify '{profile.stem}' 802-11-wireless.powersave 2"
                found.append(Finding(self.name, Verdict.FAIL, message, fix))
        return found

    def _interfaces(self) -> list[Finding]:
        interfaces = sorted(
            d.name for d in (self._root / "sys/class/net").glob("*") if (d / "wireless").is_dir()
        )
        if not interfaces:
            return [Finding(self.name, Verdict.OK, "no Wi-Fi interface on this machine")]
        found = []
        for interface in interfaces:
            out = self._runner(["iw", "dev", interface, "get", "power_save"])
            state = out.strip().removeprefix("Power save:").strip() if out else None
            if state == "off":
                found.append(Finding(self.name, Verdict.OK, f"{interface}: power save off"))
            elif state == "on":
                message = f"{interface}: power save is on now"
                fix = "reconnect (sudo nmcli device reapply " + interface + ") or reboot"
                found.append(Finding(self.name, Verdict.FAIL, message, fix))
            else:
                message = f"{interface}: cannot read its power save state (is iw installed?)"
                found.append(Finding(self.name, Verdict.WARN, message))
        return found


class JournalCheck:
    """journald keeps the journal in RAM (``Storage=volatile``) under a size cap."""

    name = "journal"

    def __init__(self, root: Path = Path("/")) -> None:
        self._root = root

    def run(self, config: Config) -> list[Finding]:
        skipped = _no_systemd(self._root, self.name)
        if skipped is not None:
            return skipped
        files = drop_in_files(self._root, "systemd/journald.conf", "systemd/journald.conf.d")
        settings = read_conf(files, "Journal")
        storage = settings.get("Storage", ("auto", self._root))[0]
        cap = settings.get("RuntimeMaxUse", ("", self._root))[0]
        if storage != "volatile":
            message = f"Storage={storage}: the journal is written to the SD card"
            return [Finding(self.name, Verdict.FAIL, message, FIX_BY_INSTALLER)]
        if not cap:
            message = (
                "in RAM (Storage=volatile) but RuntimeMaxUse is not set (default: 10 % of RAM)"
            )
            return [Finding(self.name, Verdict.WARN, message, FIX_BY_INSTALLER)]
        if not any((self._root / "run/log/journal").glob("*/system.journal")):
            message = f"Storage=volatile, RuntimeMaxUse={cap}, but journald has not picked it up"
            return [
                Finding(self.name, Verdict.FAIL, message, "sudo systemctl restart systemd-journald")
            ]
        message = f"in RAM (Storage=volatile, /run/log/journal), at most {cap}"
        return [Finding(self.name, Verdict.OK, message)]


class TimeSyncCheck:
    """The clock is NTP-synchronized, and alo-edge starts after ``time-sync.target``."""

    name = "time"

    def __init__(self, root: Path = Path("/"), reader: TimeSyncReader | None = None) -> None:
        self._root = root
        self._reader = reader or TimeSyncReader(root)

    def run(self, config: Config) -> list[Finding]:
        skipped = _no_systemd(self._root, self.name)
        if skipped is not None:
            return skipped
        answer = self._reader.read()
        findings = []
        if answer.synchronized:
            findings.append(Finding(self.name, Verdict.OK, answer.message))
        elif answer.synchronized is False:
            message = f"{NOT_SYNCHRONIZED} ({answer.source}): {WHY_IT_MATTERS}"
            fix = "let the device reach an NTP server (timedatectl timesync-status)"
            findings.append(Finding(self.name, Verdict.WARN, message, fix))
        else:
            findings.append(Finding(self.name, Verdict.WARN, answer.message))
        if (self._root / TIME_WAIT_SYNC_WANTS).exists():
            message = "alo-edge starts after time-sync.target (systemd-time-wait-sync is enabled)"
            findings.append(Finding(self.name, Verdict.OK, message))
        else:
            message = "nothing waits for the clock at boot (systemd-time-wait-sync is not enabled)"
            findings.append(Finding(self.name, Verdict.WARN, message, FIX_BY_INSTALLER))
        return findings
