"""Pi health in /status and /metrics, and the journal warning on under-voltage."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.registry import Collector

from alo_edge.system.pi_health import PiHealth
from alo_edge.system.pi_sensors import FIRMWARE_THROTTLED

HWMON = "sys/class/hwmon/hwmon2"


class Pi:
    """A Pi's sysfs under a temporary root, with knobs for the test."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.set_throttled(0)
        (root / HWMON).mkdir(parents=True)
        (root / HWMON / "name").write_text("rpi_volt\n")
        self.set_alarm(False)
        zone = root / "sys/class/thermal/thermal_zone0"
        zone.mkdir(parents=True)
        (zone / "type").write_text("cpu-thermal\n")
        (zone / "temp").write_text("51540\n")

    def set_throttled(self, bits: int) -> None:
        path = self.root / FIRMWARE_THROTTLED
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"{bits:x}\n")

    def set_alarm(self, on: bool) -> None:
        (self.root / HWMON / "in0_lcrit_alarm").write_text("1\n" if on else "0\n")


class _Section(Collector):
    def __init__(self, health: PiHealth) -> None:
        self.health = health

    def collect(self):  # type: ignore[no-untyped-def]
        yield from self.health.metrics()


def metrics_text(health: PiHealth) -> str:
    registry = CollectorRegistry()
    registry.register(_Section(health))
    return generate_latest(registry).decode()


def warnings(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.levelno == logging.WARNING]


def test_under_voltage_onset_is_one_journal_warning_with_its_field(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    pi = Pi(tmp_path)
    health = PiHealth(root=tmp_path)
    caplog.set_level(logging.INFO, logger="alo_edge.system.pi_health")

    health.update(health.read())
    assert warnings(caplog) == []
    pi.set_throttled(0x50005)
    pi.set_alarm(True)
    health.update(health.read())
    health.update(health.read())  # still under-voltage: no second warning

    (warning,) = [r for r in warnings(caplog) if "under-voltage" in r.getMessage()]
    assert warning.getMessage().startswith(
        "under-voltage: the power supply is too weak right now "
        "(get_throttled 0x50005, hwmon in0_lcrit_alarm = 1)"
    )
    assert warning.ALO_UNDERVOLTAGE == 1  # type: ignore[attr-defined]
    assert health.under_voltage_events == 1
    pi.set_throttled(0x50000)
    pi.set_alarm(False)
    health.update(health.read())
    assert caplog.records[-1].getMessage() == "under-voltage is over"


def test_under_voltage_since_boot_is_reported_once_at_start(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    pi = Pi(tmp_path)
    pi.set_throttled(0x10000)  # occurred before the service started, not now
    health = PiHealth(root=tmp_path)

    health.update(health.read())
    health.update(health.read())

    (warning,) = warnings(caplog)
    assert warning.getMessage().startswith(
        "under-voltage has occurred since boot (get_throttled 0x10000)"
    )
    assert health.under_voltage_events == 1


def test_throttling_onset_warns_with_the_temperature(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    pi = Pi(tmp_path)
    health = PiHealth(root=tmp_path)
    health.update(health.read())

    pi.set_throttled(0x6000E)  # capped, throttled, soft limit
    health.update(health.read())

    (warning,) = warnings(caplog)
    assert warning.getMessage() == (
        "the Pi is slowing itself down: ARM frequency capped, throttled, soft temperature "
        "limit (get_throttled 0x6000e, SoC 51.5 °C)"
    )


def test_status_carries_every_flag_the_temperature_and_camera_restarts(tmp_path: Path) -> None:
    pi = Pi(tmp_path)
    pi.set_throttled(0x50005)
    health = PiHealth(root=tmp_path, camera_restarts=lambda: 3)
    health.update(health.read())

    assert health.status_key == "piHealth"
    assert health.status() == {
        "available": True,
        "underVoltage": True,
        "underVoltageAlarm": False,
        "throttledRaw": "0x50005",
        "temperature": pytest.approx(51.54),
        "underVoltageEvents": 1,
        "cameraRestarts": 3,
        "source": "/sys/devices/platform/soc/soc:firmware/get_throttled",
        "underVoltageOccurred": True,
        "frequencyCapped": False,
        "frequencyCappedOccurred": False,
        "throttled": True,
        "throttledOccurred": True,
        "softTemperatureLimit": False,
        "softTemperatureLimitOccurred": False,
    }


def test_metrics_name_each_condition_now_and_since_boot(tmp_path: Path) -> None:
    pi = Pi(tmp_path)
    pi.set_throttled(0x50005)
    health = PiHealth(root=tmp_path, camera_restarts=lambda: 2)
    health.update(health.read())

    text = metrics_text(health)

    assert 'alo_edge_pi_condition{condition="under_voltage",scope="now"} 1.0' in text
    assert 'alo_edge_pi_condition{condition="frequency_capped",scope="since_boot"} 0.0' in text
    assert 'alo_edge_pi_condition{condition="throttled",scope="since_boot"} 1.0' in text
    assert "alo_edge_pi_under_voltage_alarm 0.0" in text
    assert "alo_edge_soc_temperature_celsius 51.54" in text
    assert "alo_edge_under_voltage_events_total 1.0" in text
    assert "alo_edge_camera_restarts_total 2.0" in text


def test_not_a_pi_reports_nothing_it_cannot_know(tmp_path: Path) -> None:
    health = PiHealth(root=tmp_path, throttle=None)
    health.update(health.read())

    status = health.status()
    text = metrics_text(health)

    assert status["available"] is False
    assert status["underVoltage"] is None
    assert status["throttled"] is None
    assert "alo_edge_pi_condition" not in text
    assert "alo_edge_soc_temperature_celsius" not in text
    assert "alo_edge_camera_restarts_total 0.0" in text
