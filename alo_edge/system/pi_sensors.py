"""Readers of a Raspberry Pi's power and thermal state: small adapters over sysfs and vcgencmd.

Under-voltage is the usual cause of "random" video lag and camera stalls in the field: the
firmware then caps the ARM clock, and the camera and Wi-Fi brown out. The firmware reports it
in a bit field (``get_throttled``), the kernel's ``rpi_volt`` hwmon device raises
``in0_lcrit_alarm``, and the SoC's temperature is a thermal zone. Each reader reads one of
them, takes the filesystem root (or the command runner) as a parameter so the tests lay the
files out as a Pi does under a temporary directory, and answers None where this machine has
no such thing (a PC, a container): absence is a fact, not an error.

The bit field (Raspberry Pi documentation, "vcgencmd get_throttled")::

    bit 0  under-voltage now            bit 16  under-voltage has occurred (since boot)
    bit 1  ARM frequency capped now     bit 17  ARM frequency capping has occurred
    bit 2  throttled now                bit 18  throttling has occurred
    bit 3  soft temperature limit now   bit 19  soft temperature limit has occurred
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

#: Where the firmware driver (raspberrypi-firmware) publishes the bit field on a Pi 0-4;
#: newer device trees name the soc node with its address, hence the pattern as a fallback.
FIRMWARE_THROTTLED = "sys/devices/platform/soc/soc:firmware/get_throttled"
FIRMWARE_THROTTLED_PATTERN = "sys/devices/platform/soc*/soc*:firmware/get_throttled"
#: The hwmon device the raspberrypi-hwmon driver registers.
HWMON_NAME = "rpi_volt"
#: The SoC's thermal zone type on Raspberry Pi kernels.
CPU_THERMAL = "cpu-thermal"


@dataclass(frozen=True)
class ThrottleFlags:
    """The firmware's throttling bit field, decoded (pure)."""

    raw: int

    def _bit(self, n: int) -> bool:
        return bool(self.raw >> n & 1)

    @property
    def under_voltage(self) -> bool:
        """The supply is below ~4.63 V now."""
        return self._bit(0)

    @property
    def frequency_capped(self) -> bool:
        return self._bit(1)

    @property
    def throttled(self) -> bool:
        return self._bit(2)

    @property
    def soft_temperature_limit(self) -> bool:
        return self._bit(3)

    @property
    def under_voltage_occurred(self) -> bool:
        """Under-voltage was seen at some point since boot (sticky until reboot)."""
        return self._bit(16)

    @property
    def frequency_capped_occurred(self) -> bool:
        return self._bit(17)

    @property
    def throttled_occurred(self) -> bool:
        return self._bit(18)

    @property
    def soft_temperature_limit_occurred(self) -> bool:
        return self._bit(19)

    def conditions(self) -> list[str]:
        """What holds now, in words (empty when all is well)."""
        names = ("under-voltage", "ARM frequency capped", "throttled", "soft temperature limit")
        return [name for bit, name in enumerate(names) if self._bit(bit)]

    def hex(self) -> str:
        """As vcgencmd prints it (``0x50005``)."""
        return f"{self.raw:#x}"


def parse_throttled(text: str) -> ThrottleFlags:
    """``0x50005``, ``50005`` (sysfs: hex without a prefix) or ``throttled=0x50005`` (vcgencmd).

    Raises ValueError on anything else.
    """
    value = text.strip().removeprefix("throttled=")
    return ThrottleFlags(int(value, 16))


class ThrottleReader(Protocol):
    """Reads the firmware's bit field; None where there is none (not a Pi)."""

    @property
    def source(self) -> str:
        """Where the value comes from, for a person (a path, ``vcgencmd``)."""
        ...

    def read(self) -> ThrottleFlags | None: ...


class FirmwareThrottleReader:
    """``get_throttled`` from the firmware driver's sysfs node (readable by any user)."""

    def __init__(self, root: Path = Path("/")) -> None:
        self._root = root
        self._path: Path | None = None

    @property
    def source(self) -> str:
        path = self._find()
        return f"/{path.relative_to(self._root)}" if path else f"/{FIRMWARE_THROTTLED}"

    def _find(self) -> Path | None:
        if self._path is None or not self._path.exists():
            fixed = self._root / FIRMWARE_THROTTLED
            found = [fixed] if fixed.exists() else []
            found += sorted(self._root.glob(FIRMWARE_THROTTLED_PATTERN))
            self._path = found[0] if found else None
        return self._path

    def read(self) -> ThrottleFlags | None:
        path = self._find()
        if path is None:
            return None
        try:
            return parse_throttled(path.read_text())
        except (OSError, ValueError):
            return None


Runner = Callable[[Sequence[str]], str | None]


def run_command(argv: Sequence[str]) -> str | None:
    """Run ``argv`` (bounded to 5 s); its stdout, or None when it is missing or fails."""
    try:
        result = subprocess.run(list(argv), capture_output=True, text=True, timeout=5, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return result.stdout if result.returncode == 0 else None


class VcgencmdThrottleReader:
    """``vcgencmd get_throttled``: where the sysfs node is missing (older kernels).

    It needs ``/dev/vcio``, which the service's unit does not allow: it is for
    ``alo-edge check`` run by an administrator.
    """

    source = "vcgencmd get_throttled"

    def __init__(self, runner: Runner = run_command) -> None:
        self._runner = runner

    def read(self) -> ThrottleFlags | None:
        out = self._runner(["vcgencmd", "get_throttled"])
        if out is None:
            return None
        try:
            return parse_throttled(out)
        except ValueError:
            return None


class FirstThrottleReader:
    """The first of several readers that has an answer (sysfs, then vcgencmd)."""

    def __init__(self, readers: Sequence[ThrottleReader]) -> None:
        self._readers = list(readers)
        self.source = self._readers[0].source if self._readers else "none"

    def read(self) -> ThrottleFlags | None:
        for reader in self._readers:
            flags = reader.read()
            if flags is not None:
                self.source = reader.source
                return flags
        return None


def default_throttle_reader(
    root: Path = Path("/"), runner: Runner = run_command
) -> FirstThrottleReader:
    """sysfs first, vcgencmd as the fallback."""
    return FirstThrottleReader([FirmwareThrottleReader(root), VcgencmdThrottleReader(runner)])


class UnderVoltageAlarmReader:
    """hwmon ``rpi_volt``'s ``in0_lcrit_alarm``: 1 while the supply is under-voltage."""

    def __init__(self, root: Path = Path("/")) -> None:
        self._root = root

    def _device(self) -> Path | None:
        for device in sorted((self._root / "sys/class/hwmon").glob("hwmon*")):
            try:
                if (device / "name").read_text().strip() == HWMON_NAME:
                    return device
            except OSError:
                continue
        return None

    @property
    def source(self) -> str:
        device = self._device()
        where = f"/{device.relative_to(self._root)}" if device else "/sys/class/hwmon/hwmon*"
        return f"{where}/in0_lcrit_alarm ({HWMON_NAME})"

    def read(self) -> bool | None:
        device = self._device()
        if device is None:
            return None
        try:
            return (device / "in0_lcrit_alarm").read_text().strip() == "1"
        except OSError:
            return None


class SocTemperatureReader:
    """The SoC's temperature in degrees Celsius, from the ``cpu-thermal`` zone (else zone 0)."""

    def __init__(self, root: Path = Path("/")) -> None:
        self._root = root

    def _zone(self) -> Path | None:
        zones = sorted((self._root / "sys/class/thermal").glob("thermal_zone*"))
        for zone in zones:
            try:
                if (zone / "type").read_text().strip() == CPU_THERMAL:
                    return zone
            except OSError:
                continue
        return zones[0] if zones else None

    def read(self) -> float | None:
        zone = self._zone()
        if zone is None:
            return None
        try:
            return int((zone / "temp").read_text().strip()) / 1000
        except (OSError, ValueError):
            return None
