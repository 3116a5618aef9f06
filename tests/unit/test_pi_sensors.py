"""The Pi's power and thermal readers, against files laid out as a Pi's sysfs has them."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest

from alo_edge.system.pi_sensors import (
    FIRMWARE_THROTTLED,
    FirmwareThrottleReader,
    SocTemperatureReader,
    UnderVoltageAlarmReader,
    VcgencmdThrottleReader,
    default_throttle_reader,
    parse_throttled,
)


def write(root: Path, relative: str, text: str) -> Path:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_throttled_bits_decode_as_the_raspberry_pi_documentation_lists_them() -> None:
    # 0x50005: under-voltage now, throttled now; both occurred since boot.
    flags = parse_throttled("0x50005")

    assert (flags.under_voltage, flags.frequency_capped, flags.throttled) == (True, False, True)
    assert flags.soft_temperature_limit is False
    assert (flags.under_voltage_occurred, flags.throttled_occurred) == (True, True)
    assert flags.frequency_capped_occurred is False
    assert flags.soft_temperature_limit_occurred is False
    assert flags.conditions() == ["under-voltage", "throttled"]
    assert flags.hex() == "0x50005"


def test_only_history_bits_mean_nothing_holds_now() -> None:
    flags = parse_throttled("0xa0000")  # capping and soft limit have occurred, not now

    assert flags.conditions() == []
    assert flags.frequency_capped_occurred is True
    assert flags.soft_temperature_limit_occurred is True
    assert flags.under_voltage_occurred is False


@pytest.mark.parametrize("text", ["throttled=0x50005\n", "50005\n", "0x50005"])
def test_each_spelling_of_the_value_parses(text: str) -> None:
    assert parse_throttled(text).raw == 0x50005


def test_garbage_is_refused() -> None:
    with pytest.raises(ValueError, match="invalid literal"):
        parse_throttled("throttled=?")


def test_firmware_node_is_read_where_the_pi_has_it(tmp_path: Path) -> None:
    # The firmware driver prints the field in hex with no prefix.
    write(tmp_path, FIRMWARE_THROTTLED, "50005\n")

    reader = FirmwareThrottleReader(tmp_path)
    flags = reader.read()

    assert flags is not None
    assert flags.under_voltage is True
    assert reader.source == "/sys/devices/platform/soc/soc:firmware/get_throttled"


def test_firmware_node_under_a_soc_node_named_by_address_is_found(tmp_path: Path) -> None:
    # Newer device trees (Pi 5) name the soc node with its bus address.
    write(
        tmp_path, "sys/devices/platform/soc@107c000000/soc@107c000000:firmware/get_throttled", "0\n"
    )

    flags = FirmwareThrottleReader(tmp_path).read()

    assert flags is not None
    assert flags.raw == 0


def test_no_firmware_node_is_no_answer_not_an_error(tmp_path: Path) -> None:
    assert FirmwareThrottleReader(tmp_path).read() is None


def test_vcgencmd_answers_where_sysfs_does_not(tmp_path: Path) -> None:
    calls: list[list[str]] = []

    def runner(argv: Sequence[str]) -> str | None:
        calls.append(list(argv))
        return "throttled=0x80000\n"

    reader = default_throttle_reader(tmp_path, runner)
    flags = reader.read()

    assert calls == [["vcgencmd", "get_throttled"]]
    assert flags is not None
    assert flags.soft_temperature_limit_occurred is True
    assert reader.source == "vcgencmd get_throttled"


def test_vcgencmd_missing_or_failing_is_no_answer() -> None:
    assert VcgencmdThrottleReader(lambda argv: None).read() is None
    assert VcgencmdThrottleReader(lambda argv: "error=1 error_msg=...").read() is None


def test_sysfs_wins_over_vcgencmd(tmp_path: Path) -> None:
    write(tmp_path, FIRMWARE_THROTTLED, "1\n")
    reader = default_throttle_reader(tmp_path, lambda argv: "throttled=0x0\n")

    flags = reader.read()

    assert flags is not None
    assert flags.under_voltage is True


def test_hwmon_alarm_is_read_from_the_rpi_volt_device(tmp_path: Path) -> None:
    write(tmp_path, "sys/class/hwmon/hwmon0/name", "cpu_thermal\n")
    write(tmp_path, "sys/class/hwmon/hwmon1/name", "rpi_volt\n")
    alarm = write(tmp_path, "sys/class/hwmon/hwmon1/in0_lcrit_alarm", "1\n")
    reader = UnderVoltageAlarmReader(tmp_path)

    assert reader.read() is True
    assert reader.source == "/sys/class/hwmon/hwmon1/in0_lcrit_alarm (rpi_volt)"
    alarm.write_text("0\n")
    assert reader.read() is False


def test_no_rpi_volt_device_is_no_answer(tmp_path: Path) -> None:
    write(tmp_path, "sys/class/hwmon/hwmon0/name", "coretemp\n")

    assert UnderVoltageAlarmReader(tmp_path).read() is None


def test_soc_temperature_comes_from_the_cpu_thermal_zone(tmp_path: Path) -> None:
    write(tmp_path, "sys/class/thermal/thermal_zone0/type", "rp1_adc\n")
    write(tmp_path, "sys/class/thermal/thermal_zone0/temp", "30000\n")
    write(tmp_path, "sys/class/thermal/thermal_zone1/type", "cpu-thermal\n")
    write(tmp_path, "sys/class/thermal/thermal_zone1/temp", "48312\n")

    assert SocTemperatureReader(tmp_path).read() == pytest.approx(48.312)


def test_soc_temperature_falls_back_to_zone_0_and_to_none(tmp_path: Path) -> None:
    assert SocTemperatureReader(tmp_path).read() is None
    write(tmp_path, "sys/class/thermal/thermal_zone0/type", "x86_pkg_temp\n")
    write(tmp_path, "sys/class/thermal/thermal_zone0/temp", "61000\n")

    assert SocTemperatureReader(tmp_path).read() == pytest.approx(61.0)
