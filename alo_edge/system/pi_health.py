"""Pi health in ``/status`` and ``/metrics``: under-voltage, throttling, SoC temperature,
camera restarts; and a journal warning when the supply sags.

A field report of "random" video lag or a camera that stalls now and then is, more often
than not, a weak power supply or a hot enclosure. This part samples the readers of
:mod:`alo_edge.system.pi_sensors` every few seconds (in a worker thread: sysfs reads can
block on a busy SD card), logs a warning with ``ALO_UNDERVOLTAGE=1`` in the journal when
under-voltage starts (and once at startup when it has occurred since boot), and reports
the latest sample under ``piHealth``. On a machine that is not a Pi every reading is
``null`` and ``available`` is false.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from alo_edge.session.view import SessionView
from alo_edge.system.pi_sensors import (
    SocTemperatureReader,
    ThrottleFlags,
    ThrottleReader,
    UnderVoltageAlarmReader,
    default_throttle_reader,
)
from alo_edge.tasks import cancel_and_wait, poll

logger = logging.getLogger(__name__)

SAMPLE_SECONDS = 5.0
#: The advice every under-voltage warning carries.
UNDER_VOLTAGE_ADVICE = (
    "expect video lag, camera stalls and Wi-Fi drops; use the official 5.1 V supply "
    "and a short, thick cable"
)


@dataclass(frozen=True)
class PiHealthSample:
    """One reading of every sensor (None: this machine has no such sensor)."""

    throttle: ThrottleFlags | None = None
    under_voltage_alarm: bool | None = None
    temperature: float | None = None

    @property
    def available(self) -> bool:
        return any(x is not None for x in (self.throttle, self.under_voltage_alarm))

    @property
    def under_voltage(self) -> bool | None:
        """Under-voltage now, by either the firmware or the hwmon alarm."""
        seen = [
            x
            for x in (
                self.throttle.under_voltage if self.throttle else None,
                self.under_voltage_alarm,
            )
            if x is not None
        ]
        return any(seen) if seen else None


class PiHealth:
    """Samples the Pi's power and thermal state; a StatusSection and a SessionComponent.

    ``camera_restarts`` counts the camera's stall restarts (the source health's count).
    """

    def __init__(
        self,
        *,
        root: Path = Path("/"),
        throttle: ThrottleReader | None = None,
        camera_restarts: Callable[[], int] = lambda: 0,
        interval: float = SAMPLE_SECONDS,
    ) -> None:
        self._throttle = throttle or default_throttle_reader(root)
        self._alarm = UnderVoltageAlarmReader(root)
        self._temperature = SocTemperatureReader(root)
        self._camera_restarts = camera_restarts
        self._interval = interval
        self._task: asyncio.Task[None] | None = None
        self.sample: PiHealthSample | None = None
        #: Times under-voltage started while this process watched (or had occurred at start).
        self.under_voltage_events = 0

    async def start(self, session: SessionView) -> None:
        watching = poll(self.read, self.update, self._interval)
        self._task = asyncio.create_task(watching, name="alo-edge pi health")

    async def stop(self) -> None:
        task, self._task = self._task, None
        await cancel_and_wait(task)

    def read(self) -> PiHealthSample:
        """Read every sensor now (blocking file reads)."""
        return PiHealthSample(
            throttle=self._throttle.read(),
            under_voltage_alarm=self._alarm.read(),
            temperature=self._temperature.read(),
        )

    def update(self, sample: PiHealthSample) -> None:
        """Take a new sample; warn in the journal on each onset of under-voltage or throttling."""
        before, self.sample = self.sample, sample
        now = sample.under_voltage
        if now and not (before and before.under_voltage):
            self.under_voltage_events += 1
            logger.warning(
                "under-voltage: the power supply is too weak right now (%s); %s",
                self._evidence(sample),
                UNDER_VOLTAGE_ADVICE,
                extra={"ALO_UNDERVOLTAGE": 1},
            )
        elif before is None and sample.throttle and sample.throttle.under_voltage_occurred:
            self.under_voltage_events += 1
            logger.warning(
                "under-voltage has occurred since boot (get_throttled %s); %s",
                sample.throttle.hex(),
                UNDER_VOLTAGE_ADVICE,
                extra={"ALO_UNDERVOLTAGE": 1},
            )
        elif before is not None and before.under_voltage and now is False:
            logger.info("under-voltage is over")
        throttling = _throttling(sample.throttle)
        if throttling and throttling != _throttling(before.throttle if before else None):
            logger.warning(
                "the Pi is slowing itself down: %s (get_throttled %s, SoC %s)",
                ", ".join(throttling),
                sample.throttle.hex() if sample.throttle else "?",
                _celsius(sample.temperature),
                extra={"ALO_THROTTLED": 1},
            )

    def _evidence(self, sample: PiHealthSample) -> str:
        parts = []
        if sample.throttle is not None and sample.throttle.under_voltage:
            parts.append(f"get_throttled {sample.throttle.hex()}")
        if sample.under_voltage_alarm:
            parts.append("hwmon in0_lcrit_alarm = 1")
        return ", ".join(parts)

    @property
    def status_key(self) -> str:
        return "piHealth"

    def status(self) -> dict[str, Any]:
        """The latest sample: each flag now and since boot, the temperature, the counts."""
        sample = self.sample or PiHealthSample()
        flags = sample.throttle
        document: dict[str, Any] = {
            "available": sample.available,
            "underVoltage": sample.under_voltage,
            "underVoltageAlarm": sample.under_voltage_alarm,
            "throttledRaw": flags.hex() if flags else None,
            "temperature": sample.temperature,
            "underVoltageEvents": self.under_voltage_events,
            "cameraRestarts": self._camera_restarts(),
            "source": self._throttle.source,
        }
        document.update(_flag_document(flags))
        return document

    def metrics(self) -> Iterable[Metric]:
        """``alo_edge_pi_condition{condition, scope}``, temperature, events, camera restarts."""
        sample = self.sample or PiHealthSample()
        if sample.throttle is not None:
            flags = sample.throttle
            family = GaugeMetricFamily(
                "alo_edge_pi_condition",
                "The Pi firmware's get_throttled flags: 1 while (now) or since boot (occurred)",
                labels=["condition", "scope"],
            )
            for condition, now, occurred in (
                ("under_voltage", flags.under_voltage, flags.under_voltage_occurred),
                ("frequency_capped", flags.frequency_capped, flags.frequency_capped_occurred),
                ("throttled", flags.throttled, flags.throttled_occurred),
                (
                    "soft_temperature_limit",
                    flags.soft_temperature_limit,
                    flags.soft_temperature_limit_occurred,
                ),
            ):
                family.add_metric([condition, "now"], int(now))
                family.add_metric([condition, "since_boot"], int(occurred))
            yield family
        if sample.under_voltage_alarm is not None:
            yield GaugeMetricFamily(
                "alo_edge_pi_under_voltage_alarm",
                "hwmon rpi_volt in0_lcrit_alarm: 1 while the supply is under-voltage",
                value=int(sample.under_voltage_alarm),
            )
        if sample.temperature is not None:
            yield GaugeMetricFamily(
                "alo_edge_soc_temperature_celsius", "SoC temperature", value=sample.temperature
            )
        yield CounterMetricFamily(
            "alo_edge_under_voltage_events",
            "Times under-voltage started while the service ran",
            value=self.under_voltage_events,
        )
        yield CounterMetricFamily(
            "alo_edge_camera_restarts",
            "Times the camera was closed and reopened after it stopped delivering",
            value=self._camera_restarts(),
        )


def _flag_document(flags: ThrottleFlags | None) -> dict[str, bool | None]:
    """Each flag under its camelCase /status key (ALO's key spelling); None when unknown."""
    values = (
        (
            flags.under_voltage_occurred,
            flags.frequency_capped,
            flags.frequency_capped_occurred,
            flags.throttled,
            flags.throttled_occurred,
            flags.soft_temperature_limit,
            flags.soft_temperature_limit_occurred,
        )
        if flags
        else (None,) * 7
    )
    keys = (
        "underVoltageOccurred",
        "frequencyCapped",
        "frequencyCappedOccurred",
        "throttled",
        "throttledOccurred",
        "softTemperatureLimit",
        "softTemperatureLimitOccurred",
    )
    return dict(zip(keys, values, strict=True))


def _throttling(flags: ThrottleFlags | None) -> list[str]:
    """What of throttling holds now (under-voltage has its own warning)."""
    if flags is None:
        return []
    return [c for c in flags.conditions() if c != "under-voltage"]


def _celsius(value: float | None) -> str:
    return "temperature unknown" if value is None else f"{value:.1f} °C"
