"""The bench's wiring file: the panel's pins, the bench's own sense pins, pass/fail limits.

``config/hil-bench/wiring.toml`` says how a bench Pi is wired: the panel's pins as the
device's ``[gpio]`` table (validated exactly as the service validates it), the sense
inputs jumpered to the LEDs and the output jumpered to the button, and the limits the
checks apply. A wiring error names the file and the key (the bench exits 78).
"""

from __future__ import annotations

import tomllib
from dataclasses import MISSING, asdict, dataclass, fields
from pathlib import Path
from typing import Any

from alo_edge.config import Config, GpioConfig
from alo_edge.errors import ConfigError
from alo_edge.tools.lab_device import device_config

DEFAULT_WIRING = Path("config/hil-bench/wiring.toml")
#: The lab channel the bench's device publishes into, and the user its token is for.
CHANNEL = "hil-bench"
BENCH_USER = "hil-bench"
#: Where the wiring check's device config points: nothing listens there, nothing is read.
_NO_LAB = "http://127.0.0.1:1"
_NO_TOKEN = "/nonexistent/token"


@dataclass(frozen=True)
class SenseWiring:
    """The bench's own pins: sense inputs jumpered to the LEDs, an output to the button."""

    status_led: int
    mic_led: int
    button_drive: int


@dataclass(frozen=True)
class Limits:
    """Pass/fail thresholds of the checks."""

    follow_ms: float = 100.0
    frequency_tolerance: float = 0.1
    duty_tolerance: float = 0.1
    hold_tolerance: float = 0.15
    connect_seconds: float = 10.0
    recovery_seconds: float = 15.0
    min_video_frames: int = 30
    min_audio_frames: int = 25


@dataclass(frozen=True)
class Wiring:
    """A bench wiring file: the panel's pins (the device's [gpio]), the sense pins, limits."""

    path: Path
    panel: GpioConfig
    sense: SenseWiring
    limits: Limits


def load_wiring(path: Path) -> Wiring:
    """Read and check a wiring file; ConfigError names the file and the key."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"wiring file {path} cannot be read: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"wiring file {path} is not valid TOML: {exc}") from None
    panel = data.get("panel")
    if not isinstance(panel, dict):
        raise ConfigError(f"{path}: the [panel] table is required")
    try:
        # The panel is validated exactly as the service validates its [gpio] section.
        gpio = bench_config(panel, pin_factory=str(panel.get("pin_factory", "auto"))).gpio
    except ConfigError as exc:
        raise ConfigError(f"{path}: [panel] {exc}") from None
    required = {"status_led": gpio.status_led, "mic_led": gpio.mic_led, "button": gpio.button}
    for key, pin in required.items():
        if pin is None:
            raise ConfigError(f"{path}: panel.{key} is required on the bench")
    sense = SenseWiring(**_numbers(path, data, "sense", SenseWiring, int))
    limits = Limits(**_numbers(path, data, "limits", Limits, None))
    used = {gpio.status_led, gpio.mic_led, gpio.button, *gpio.rgb_led}
    for key, pin in asdict(sense).items():
        if pin in used:
            raise ConfigError(f"{path}: sense.{key}: GPIO{pin} is already used on the bench")
        if not 0 <= pin <= 27:
            raise ConfigError(f"{path}: sense.{key}: expected a BCM GPIO number 0-27, got {pin}")
        used.add(pin)
    return Wiring(path, gpio, sense, limits)


def _numbers(
    path: Path, data: dict[str, Any], table: str, cls: type[Any], kind: type[int] | None
) -> dict[str, Any]:
    """The numbers of ``[table]`` for the dataclass ``cls``: integers where ``kind`` is int
    or the field's default is one, floats elsewhere; fields without a default are required."""
    section = data.get(table, {})
    if not isinstance(section, dict):
        raise ConfigError(f"{path}: [{table}] must be a table")
    defaults = {f.name: f.default for f in fields(cls)}
    values: dict[str, Any] = {}
    for key, value in section.items():
        if key not in defaults:
            valid = ", ".join(defaults)
            raise ConfigError(f"{path}: {table}.{key}: unknown key; valid: {valid}")
        integer = kind is int or isinstance(defaults[key], int)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"{path}: {table}.{key}: expected a number, got {value!r}")
        if integer and not isinstance(value, int):
            raise ConfigError(f"{path}: {table}.{key}: expected an integer, got {value!r}")
        values[key] = int(value) if integer else float(value)
    missing = [n for n, default in defaults.items() if n not in values and default is MISSING]
    if missing:
        raise ConfigError(f"{path}: {table}.{missing[0]} is required")
    return values


def bench_config(
    panel: dict[str, Any],
    *,
    pin_factory: str,
    lab_url: str = _NO_LAB,
    token_file: Path | str = _NO_TOKEN,
) -> Config:
    """The bench device's config: the panel on ``pin_factory``, the lab at ``lab_url``.

    Without a lab it only validates the ``[panel]`` table, as :func:`load_wiring` does.
    """
    return device_config(
        lab_url,
        token_file,
        channel=CHANNEL,
        device={"user_id": BENCH_USER, "name": "HIL bench", "device_id": "hil-bench-01"},
        # A fixed 2 s wait (no jitter) before every retry, so the RECONNECT_PENDING
        # pattern shows long enough to be seen on the sense pin.
        reconnect={"initial_delay": 2.0, "max_delay": 2.0, "jitter": 0.0},
        video={"source": "synthetic", "width": 320, "height": 240, "fps": 30},
        audio={"source": "synthetic"},
        gpio={**panel, "enabled": True, "pin_factory": pin_factory},
    )


def panel_table(panel: GpioConfig) -> dict[str, Any]:
    """A loaded panel back in TOML shapes (lists, no unset keys), for the service's own
    validation in :func:`bench_config`."""
    return {
        k: list(v) if isinstance(v, tuple) else v
        for k, v in asdict(panel).items()
        if k not in ("enabled", "pin_factory") and v is not None
    }
