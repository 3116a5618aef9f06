"""The hardware-in-the-loop bench: the service's panel measured from the outside.

On a Raspberry Pi wired as ``config/hil-bench/wiring.toml`` says (each LED pin jumpered to
a sense input, one bench output jumpered to the button input), it runs the device's
session and panel (``app.build_video`` and ``app.build_panel``, as the service does)
against the lab in-process on 127.0.0.1, and checks with timings:

- every state's status LED pattern: frequency, duty and pulses per cycle measured on
  the sense pin;
- the session: connect, video frames and audio arriving at the lab, the mic LED;
- the button gestures driven through the bench output: press (mute), a bouncy press
  (exactly one toggle), hold (reconnect now), long hold (restart, exit code 75);
- recovery after the network is cut (the lab stops, then comes back on the same port);
- that the status LED followed every state change within ``limits.follow_ms``.

``--virtual`` runs the same code on gpiozero's MockFactory with the jumpers emulated
by mock pins, so CI runs it on every change. The measurement code is shared: both
paths read sense-pin edges through gpiozero input callbacks.

It prints a table for a person, or JSON with ``--json``; the exit status is 0 when
every check passed, 1 when one failed, 69 when the GPIO hardware is missing and 78
when the wiring file is invalid. This module is a tool on top of the service (like
``cli.py``); nothing in the service imports it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import logging
import math
import secrets
import sys
import tempfile
import threading
import time
import tomllib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from alo_edge.config import Config, GpioConfig, config_from_dict
from alo_edge.errors import AloEdgeError, AuthError, ConfigError, HardwareError
from alo_edge.events import Event
from alo_edge.panel.gpio import describe_factory, open_pin_factory
from alo_edge.panel.patterns import LedPattern, status_pattern
from alo_edge.session.states import ConnectionState

logger = logging.getLogger(__name__)

S = ConnectionState
DEFAULT_WIRING = Path("config/hil-bench/wiring.toml")
CHANNEL = "hil-bench"
EXIT_PASSED = 0
EXIT_FAILED = 1
EXIT_HARDWARE = 69
EXIT_WIRING = 78
#: The restart gesture's exit code, as the service uses it (see app.EXIT_RESTART).
EXPECTED_RESTART_CODE = 75
#: Sampling step of the follow check: the lag it reports has this resolution.
FOLLOW_STEP = 0.002


# --- wiring -------------------------------------------------------------------------------


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
        gpio = _device_config(panel, pin_factory=str(panel.get("pin_factory", "auto"))).gpio
    except ConfigError as exc:
        raise ConfigError(f"{path}: [panel] {exc}") from None
    for key in ("status_led", "mic_led", "button"):
        if getattr(gpio, key) is None:
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
    section = data.get(table, {})
    if not isinstance(section, dict):
        raise ConfigError(f"{path}: [{table}] must be a table")
    names = set(cls.__dataclass_fields__)
    values: dict[str, Any] = {}
    for key, value in section.items():
        if key not in names:
            raise ConfigError(f"{path}: {table}.{key}: unknown key; valid: {', '.join(names)}")
        integer = kind is int or isinstance(getattr(cls, key, 0.0), int)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"{path}: {table}.{key}: expected a number, got {value!r}")
        if integer and not isinstance(value, int):
            raise ConfigError(f"{path}: {table}.{key}: expected an integer, got {value!r}")
        values[key] = int(value) if integer else float(value)
    missing = [n for n in names if n not in values and not hasattr(cls, n)]
    if missing:
        raise ConfigError(f"{path}: {table}.{missing[0]} is required")
    return values


def _device_config(
    panel: dict[str, Any], *, pin_factory: str, lab_url: str = "http://127.0.0.1:1", token: str = ""
) -> Config:
    gpio = {**panel, "enabled": True, "pin_factory": pin_factory}
    return config_from_dict(
        {
            "device": {"user_id": "hil-bench", "name": "HIL bench", "device_id": "hil-bench-01"},
            "alo": {
                "access_url": f"{lab_url}/v1/video/access",
                "channel": CHANNEL,
                "token_file": token or "/nonexistent/token",
            },
            "network": {"host_addresses": ["127.0.0.1"]},
            # A fixed 2 s wait (no jitter) after the immediate first retry, so the
            # RECONNECT_PENDING pattern shows long enough to be seen on the sense pin.
            "reconnect": {"initial_delay": 2.0, "max_delay": 2.0, "jitter": 0.0},
            "video": {"source": "synthetic", "width": 320, "height": 240, "fps": 30},
            "audio": {"source": "synthetic"},
            "gpio": gpio,
        }
    )


# --- the pins the bench itself uses ---------------------------------------------------------


class SenseInput:
    """A sense pin jumpered to an LED: records every level change with its time.

    gpiozero calls back on its own thread (real pins) or on the writer's (mock pins),
    so the history is guarded by a lock. ``lit`` already accounts for ``active_high``.
    """

    def __init__(self, factory: Any, pin: int, *, active_high: bool) -> None:
        from gpiozero import DigitalInputDevice

        # Floating input: the jumpered output drives it both ways.
        self._device = DigitalInputDevice(
            pin, pull_up=None, active_state=active_high, pin_factory=factory
        )
        self._lock = threading.Lock()
        self._edges: list[tuple[float, bool]] = [(time.monotonic(), bool(self._device.value))]
        self._device.when_activated = lambda: self._record(True)
        self._device.when_deactivated = lambda: self._record(False)

    def _record(self, lit: bool) -> None:
        with self._lock:
            self._edges.append((time.monotonic(), lit))

    def edges(self) -> list[tuple[float, bool]]:
        """Every ``(monotonic time, lit)`` so far; the first is the level when opened."""
        with self._lock:
            return list(self._edges)

    def lit(self) -> bool:
        """The level now."""
        return self.edges()[-1][1]

    def close(self) -> None:
        self._device.close()


class ButtonDrive:
    """The bench output jumpered to the panel's button: it presses like a finger."""

    def __init__(self, factory: Any, pin: int, *, pull_up: bool) -> None:
        from gpiozero import DigitalOutputDevice

        # A pull-up button connects its pin to ground when pressed: pressed is low.
        self._pressed_level = not pull_up
        self._device = DigitalOutputDevice(
            pin, initial_value=not self._pressed_level, pin_factory=factory
        )

    def press(self) -> float:
        """Press; returns when (monotonic)."""
        at = time.monotonic()
        self._device.value = self._pressed_level
        return at

    def release(self) -> float:
        """Release; returns when (monotonic)."""
        at = time.monotonic()
        self._device.value = not self._pressed_level
        return at

    def chatter(self, edges: int, *, pressed_at_end: bool) -> None:
        """A contact bounce: ``edges`` quick alternations ending pressed or released."""
        level = not pressed_at_end
        for _ in range(edges):
            self._device.value = self._pressed_level if level else not self._pressed_level
            level = not level
            time.sleep(0.001)  # the bounce itself: a millisecond between contacts
        if pressed_at_end:
            self.press()
        else:
            self.release()

    def close(self) -> None:
        self._device.close()


def virtual_factory(wiring: Wiring) -> Any:
    """A MockFactory whose LED and drive pins are jumpered, as on the bench Pi."""
    from gpiozero.pins.mock import MockFactory, MockPWMPin

    class JumperedPin(MockPWMPin):  # type: ignore[misc]
        """A mock output pin wired to another mock pin's input (a jumper wire)."""

        def __init__(self, factory: Any, info: Any, input_pin: Any = None) -> None:
            super().__init__(factory, info)
            self.input_pin = input_pin

        def _change_state(self, value: Any) -> bool:
            changed: bool = super()._change_state(value)
            # Only an output drives the wire; an input (the pin at rest) only floats.
            if changed and self.input_pin is not None and self._function == "output":
                if value:
                    self.input_pin.drive_high()
                else:
                    self.input_pin.drive_low()
            return changed

    factory = MockFactory(pin_class=MockPWMPin)
    panel, sense = wiring.panel, wiring.sense
    for output, target in (
        (panel.status_led, sense.status_led),
        (panel.mic_led, sense.mic_led),
        (sense.button_drive, panel.button),
    ):
        factory.pin(output, pin_class=JumperedPin, input_pin=factory.pin(target))
    return factory


# --- measurement (shared by the real and the virtual bench) -----------------------------


@dataclass(frozen=True)
class PatternMeasurement:
    """What a sense pin showed in a window: steady, or a rhythm."""

    steady: bool | None  # the level when it never changed, else None
    frequency: float = 0.0  # cycles per second
    duty: float = 0.0  # lit share of a cycle
    pulses: int = 0  # lit segments per cycle
    cycles: int = 0  # complete cycles measured

    def describe(self) -> str:
        if self.steady is not None:
            return "on" if self.steady else "off"
        if not self.cycles:
            return "no complete cycle"
        return f"{self.frequency:.2f} Hz, duty {self.duty:.2f}, {self.pulses} pulse(s)"


def level_at(edges: Sequence[tuple[float, bool]], at: float) -> bool:
    """The level of an edge history at time ``at``."""
    level = edges[0][1]
    for when, lit in edges:
        if when > at:
            break
        level = lit
    return level


def measure_pattern(
    edges: Sequence[tuple[float, bool]], start: float, end: float
) -> PatternMeasurement:
    """Frequency, duty and pulses per cycle of the rhythm on a sense pin in [start, end].

    A cycle starts at a rising edge that follows a long dark gap (at least 3/4 of the
    longest one seen), which makes a double blink one cycle of two pulses while an even
    blink is one pulse per cycle. Only complete cycles count.
    """
    changes = [(t, lit) for t, lit in edges if start < t <= end]
    changes = [c for i, c in enumerate(changes) if i == 0 or c[1] != changes[i - 1][1]]
    if not changes:
        level = level_at(edges, start)
        return PatternMeasurement(steady=level, duty=1.0 if level else 0.0)
    rises = [t for t, lit in changes if lit]
    falls = [t for t, lit in changes if not lit]
    gaps = {rise: rise - max((f for f in falls if f < rise), default=-math.inf) for rise in rises}
    finite = [g for g in gaps.values() if math.isfinite(g)]
    longest = max(finite, default=0.0)
    starts = [r for r in rises if not math.isfinite(gaps[r]) or gaps[r] >= 0.75 * longest]
    if len(starts) < 2:
        return PatternMeasurement(steady=None)
    periods = [b - a for a, b in itertools.pairwise(starts)]
    lit_time = 0.0
    for a, b in itertools.pairwise(starts):
        lit_time += _lit_time(changes, a, b)
    pulses = [sum(1 for r in rises if a <= r < b) for a, b in itertools.pairwise(starts)]
    total = starts[-1] - starts[0]
    return PatternMeasurement(
        steady=None,
        frequency=len(periods) / total,
        duty=lit_time / total,
        pulses=max(set(pulses), key=pulses.count),
        cycles=len(periods),
    )


def _lit_time(changes: Sequence[tuple[float, bool]], start: float, end: float) -> float:
    lit_since: float | None = None
    total = 0.0
    for when, lit in changes:
        if when < start:
            lit_since = when if lit else None
            continue
        if when >= end:
            break
        if lit and lit_since is None:
            lit_since = when
        elif not lit and lit_since is not None:
            total += when - lit_since
            lit_since = None
    if lit_since is not None:
        total += end - max(lit_since, start)
    return total


def pattern_matches(
    measured: PatternMeasurement, expected: LedPattern, limits: Limits
) -> tuple[bool, str]:
    """Whether a measurement shows ``expected``, and why not."""
    if expected.steady:
        want = expected.segments[0][0]
        if measured.steady is None:
            return False, "the LED changed; expected steady"
        return measured.steady == want, "" if measured.steady == want else "wrong level"
    if measured.steady is not None or not measured.cycles:
        return False, "no complete cycle"
    off_frequency = abs(measured.frequency - expected.frequency) / expected.frequency
    if off_frequency > limits.frequency_tolerance:
        return False, f"frequency off by {off_frequency:.0%}"
    if abs(measured.duty - expected.duty) > limits.duty_tolerance:
        return False, f"duty {measured.duty:.2f}, expected {expected.duty:.2f}"
    if measured.pulses != expected.pulses:
        return False, f"{measured.pulses} pulse(s) per cycle, expected {expected.pulses}"
    return True, ""


@dataclass(frozen=True)
class StateMark:
    """A connection state change as the bench saw the event, and the pattern it calls for."""

    at: float
    state: ConnectionState
    pattern: LedPattern


def follow_lag(
    marks: Sequence[StateMark],
    edges: Sequence[tuple[float, bool]],
    end: float,
    *,
    step: float = FOLLOW_STEP,
    give_up: float = 1.0,
) -> float:
    """The longest the LED lagged behind what the session's states called for, in seconds.

    At every ``step`` from the first state change to ``end``, the LED's level must
    equal the expected level of some moment at most the returned lag earlier. A
    pattern repeated by consecutive states (the RECONNECT_PENDING countdown) keeps
    its rhythm, as the panel does. A lag beyond ``give_up`` seconds is reported as
    infinite (the LED did not follow at all).
    """
    if not marks:
        return 0.0
    starts: list[tuple[float, LedPattern]] = []
    for mark in marks:
        if not starts or starts[-1][1] != mark.pattern:
            starts.append((mark.at, mark.pattern))
    count = int((end - starts[0][0]) / step) + 1
    times = [starts[0][0] + i * step for i in range(count)]
    expected: list[bool] = []
    index = 0
    for t in times:
        while index + 1 < len(starts) and starts[index + 1][0] <= t:
            index += 1
        begun, pattern = starts[index]
        expected.append(pattern.level_at(t - begun)[0])
    # Before the first state change the LED showed whatever it showed; that is not judged.
    before = level_at(edges, times[0] - step)
    worst = 0.0
    edge_index = 0
    level = edges[0][1]
    for i, t in enumerate(times):
        while edge_index < len(edges) and edges[edge_index][0] <= t:
            level = edges[edge_index][1]
            edge_index += 1
        back = i
        lowest = max(i - int(give_up / step), 0)
        while back >= lowest and expected[back] != level:
            back -= 1
        if back >= lowest:
            lag = (i - back) * step
        elif lowest == 0 and level == before:
            lag = (i + 1) * step
        else:
            lag = math.inf
        worst = max(worst, lag)
    return worst


# --- the report -------------------------------------------------------------------------


@dataclass
class Check:
    """One line of the report."""

    name: str
    expected: str
    measured: str = ""
    ok: bool = False
    seconds: float = 0.0
    values: dict[str, Any] = field(default_factory=dict)


@dataclass
class Report:
    """Every check of a bench run."""

    virtual: bool
    wiring: str
    backend: str = ""
    checks: list[Check] = field(default_factory=list)
    seconds: float = 0.0
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None and bool(self.checks) and all(c.ok for c in self.checks)

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "virtual": self.virtual,
            "backend": self.backend,
            "wiring": self.wiring,
            "seconds": round(self.seconds, 2),
            "error": self.error,
            "checks": [
                {
                    "name": c.name,
                    "ok": c.ok,
                    "expected": c.expected,
                    "measured": c.measured,
                    "seconds": round(c.seconds, 3),
                    **c.values,
                }
                for c in self.checks
            ],
        }

    def table(self) -> str:
        rows = [("check", "expected", "measured", "result")]
        rows += [(c.name, c.expected, c.measured, "ok" if c.ok else "FAIL") for c in self.checks]
        widths = [max(len(row[i]) for row in rows) for i in range(3)]
        mode = "virtual: MockFactory, jumpers emulated" if self.virtual else "real pins"
        lines = [f"hil-bench ({mode}), backend {self.backend}, wiring {self.wiring}", ""]
        for row in rows:
            cells = [row[i].ljust(widths[i]) for i in range(3)]
            lines.append("  ".join([*cells, row[3]]).rstrip())
        failed = sum(1 for c in self.checks if not c.ok)
        lines.append("")
        if self.error:
            lines.append(f"stopped early: {self.error}")
        lines.append(
            f"{len(self.checks) - failed} passed, {failed} failed in {self.seconds:.1f} s: "
            + ("PASS" if self.ok else "FAIL")
        )
        return "\n".join(lines)


# --- the run ----------------------------------------------------------------------------


class EventLog:
    """Every event of the session with its monotonic time; waits are bounded."""

    def __init__(self, video: Any) -> None:
        self._video = video
        self.entries: list[tuple[float, str, dict[str, Any]]] = []
        self.marks: list[StateMark] = []
        self._changed = asyncio.Event()
        for name in ("onConnectionChange", "onPanelAction", "onPanelLedChange"):
            video.events.add_event_listener(name, self._record)

    def _record(self, event: Event) -> None:
        now = time.monotonic()
        self.entries.append((now, event.type, dict(event.detail)))
        if event.type == "onConnectionChange":
            state = ConnectionState(event.detail["state"])
            auth = isinstance(self._video.last_error, AuthError)
            self.marks.append(StateMark(now, state, status_pattern(state, auth)))
        self._changed.set()

    def mark(self) -> int:
        """A position: later waits only look at events after it."""
        return len(self.entries)

    async def wait_for(
        self,
        predicate: Callable[[str, dict[str, Any]], bool],
        within: float,
        after: int = 0,
    ) -> tuple[float, dict[str, Any]] | None:
        """The first ``(time, detail)`` at or after ``after`` matching; None after ``within`` s."""
        deadline = time.monotonic() + within
        while True:
            for when, kind, detail in self.entries[after:]:
                if predicate(kind, detail):
                    return when, detail
            after = len(self.entries)
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(remaining):
                    await self._changed.wait()

    def actions(self, after: int = 0) -> list[tuple[float, dict[str, Any]]]:
        return [(w, d) for w, k, d in self.entries[after:] if k == "onPanelAction"]


def state_is(*states: str) -> Callable[[str, dict[str, Any]], bool]:
    return lambda kind, detail: kind == "onConnectionChange" and detail["state"] in states


def action_is(action: str) -> Callable[[str, dict[str, Any]], bool]:
    return lambda kind, detail: kind == "onPanelAction" and detail["action"] == action


async def wait_level(sense: SenseInput, lit: bool, within: float) -> float | None:
    """When ``sense`` showed ``lit`` (now or later), or None after ``within`` seconds."""
    deadline = time.monotonic() + within
    while True:
        edges = sense.edges()
        if edges[-1][1] == lit:
            return edges[-1][0]
        if time.monotonic() >= deadline:
            return None
        await asyncio.sleep(0.002)  # polling a recorded level, bounded by the deadline


async def channel_report(lab_url: str) -> dict[str, Any]:
    """What the lab says it received on the bench's channel."""
    timeout = aiohttp.ClientTimeout(total=5)
    async with (
        aiohttp.ClientSession(timeout=timeout) as http,
        http.get(f"{lab_url}/api/channels") as response,
    ):
        body = await response.json()
    report: dict[str, Any] = body.get("channels", {}).get(CHANNEL, {})
    return report


async def wait_for_media(lab_url: str, limits: Limits, within: float) -> dict[str, Any]:
    """The lab's report once enough frames arrived, or the last one after ``within`` seconds."""
    deadline = time.monotonic() + within
    report: dict[str, Any] = {}
    while time.monotonic() < deadline:
        report = await channel_report(lab_url)
        if (
            report.get("framesDecoded", 0) >= limits.min_video_frames
            and report.get("audioFrames", 0) >= limits.min_audio_frames
        ):
            break
        await asyncio.sleep(0.1)  # the lab counts frames as they arrive; ask again shortly
    return report


class Bench:
    """One bench run: the lab, the device session and panel, the sense pins."""

    def __init__(self, wiring: Wiring, *, virtual: bool) -> None:
        self.wiring = wiring
        self.limits = wiring.limits
        self.virtual = virtual
        self.report = Report(virtual=virtual, wiring=str(wiring.path))

    @contextlib.contextmanager
    def check(self, name: str, expected: str) -> Iterator[Check]:
        """Times one check and adds it to the report, failed if it raised."""
        entry = Check(name, expected)
        started = time.monotonic()
        try:
            yield entry
        except _BenchAbort:
            entry.ok = False
            raise
        except AloEdgeError as exc:
            # The session refused something: this check failed, the next ones may still run.
            entry.ok = False
            entry.measured = entry.measured or str(exc)
        finally:
            entry.seconds = time.monotonic() - started
            self.report.checks.append(entry)

    async def run(self) -> Report:
        started = time.monotonic()
        factory = (
            virtual_factory(self.wiring)
            if self.virtual
            else open_pin_factory(self.wiring.panel.pin_factory)
        )
        self.report.backend = describe_factory(factory).split(" ")[0]
        try:
            await self._run_on(factory)
        finally:
            factory.close()
            self.report.seconds = time.monotonic() - started
        return self.report

    async def _run_on(self, factory: Any) -> None:
        from alo_edge.app import build_panel, build_video
        from alo_edge.lab import LabServer, LabSettings, mint_token
        from alo_edge.secret_files import write_private_file

        wiring = self.wiring
        active_high = wiring.panel.active_high
        settings = LabSettings(api_key=secrets.token_urlsafe(24), secret=secrets.token_urlsafe(32))
        lab = LabServer(settings)
        await lab.start()
        labs = [lab]
        senses: list[Any] = []
        video: Any = None
        panel: Any = None
        try:
            self.status = SenseInput(factory, wiring.sense.status_led, active_high=active_high)
            senses.append(self.status)
            self.mic = SenseInput(factory, wiring.sense.mic_led, active_high=active_high)
            senses.append(self.mic)
            self.drive = ButtonDrive(
                factory, wiring.sense.button_drive, pull_up=wiring.panel.pull_up
            )
            senses.append(self.drive)
            with tempfile.TemporaryDirectory(prefix="alo-edge-bench-") as tmp:
                token_file = Path(tmp) / "token"
                token = mint_token(settings.secret, "hil-bench", 60.0, time.time())
                write_private_file(token_file, token + "\n")
                # Back to TOML shapes (lists, no unset keys) for the service's own validation.
                panel_table = {
                    k: list(v) if isinstance(v, tuple) else v
                    for k, v in asdict(wiring.panel).items()
                    if k not in ("enabled", "pin_factory") and v is not None
                }
                config = _device_config(
                    panel_table,
                    pin_factory="mock" if self.virtual else wiring.panel.pin_factory,
                    lab_url=lab.url,
                    token=str(token_file),
                )
                self.exit_codes: list[int] = []
                video = build_video(config)
                panel = build_panel(
                    config, request_stop=self.exit_codes.append, pin_factory=factory
                )
                self.log = EventLog(video)
                with self.check("panel pins", "the panel claims its pins") as check:
                    await panel.start(video)
                    check.ok = True
                    check.measured = (
                        ", ".join(
                            f"GPIO{p}" for p in (wiring.panel.status_led, wiring.panel.mic_led)
                        )
                        + f", button GPIO{wiring.panel.button}"
                    )
                await self._patterns(panel)
                await self._session(video, lab)
                labs.append(await self._network_cut(lab))
                self._follow()
                await self._long_hold(video)
        finally:
            if video is not None:
                await video.disconnect()
                for source in video.media_sources:
                    source.stop()
            if panel is not None:
                await panel.stop()
            for device in senses:
                device.close()
            for server in labs:
                with contextlib.suppress(RuntimeError):
                    await server.stop()

    async def _patterns(self, panel: Any) -> None:
        """Every state's status LED pattern, measured on the sense pin from a dark start."""
        cases: list[tuple[str, ConnectionState, bool]] = [(s.value, s, False) for s in S]
        cases.append(("auth error", S.ERROR, True))
        for label, state, auth in cases:
            expected = status_pattern(state, auth)
            panel.show_state(S.NOT_CONNECTED)
            await asyncio.sleep(0.15)  # a dark gap, so the pattern's first edge is measurable
            if expected.steady:
                window = 0.3
            else:
                window = expected.period * (2 if expected.period < 1 else 1) + 0.25
            with self.check(f"pattern {label}", _describe_pattern(expected)) as check:
                shown = time.monotonic()
                panel.show_state(state, auth_failed=auth)
                await asyncio.sleep(window)  # the measurement window itself
                edges = self.status.edges()
                # A steady level is judged once the LED had its time to follow the change.
                settled = shown + (self.limits.follow_ms / 1000 if expected.steady else 0.0)
                measured = measure_pattern(edges, settled, shown + window)
                check.ok, why = pattern_matches(measured, expected, self.limits)
                first = next((t for t, _ in edges if t >= shown), None)
                check.measured = measured.describe() + (f" ({why})" if why else "")
                check.values = {
                    "frequencyHz": round(measured.frequency, 3),
                    "duty": round(measured.duty, 3),
                    "pulses": measured.pulses,
                    "cycles": measured.cycles,
                }
                if first is not None and expected.segments[0][0]:
                    delay_ms = (first - shown) * 1000
                    check.values["firstEdgeMs"] = round(delay_ms, 2)
                    if delay_ms > self.limits.follow_ms:
                        check.ok = False
                        check.measured += f"; first edge after {delay_ms:.0f} ms"
        panel.render()

    async def _session(self, video: Any, lab: Any) -> None:
        limits = self.limits
        log = self.log
        with self.check("connect", f"CONNECTED within {limits.connect_seconds:g} s") as check:
            began = time.monotonic()
            await video.connect(CHANNEL)
            hit = await log.wait_for(state_is("CONNECTED"), limits.connect_seconds)
            if hit is None:
                check.measured = f"still {video.connection_state}"
                raise _BenchAbort("the session did not connect")
            lit = await wait_level(self.status, True, limits.follow_ms / 1000)
            check.ok = lit is not None
            check.measured = f"{hit[0] - began:.2f} s; status LED " + ("on" if lit else "not on")
            check.values = {"connectSeconds": round(hit[0] - began, 3)}

        frames_expected = (
            f">= {limits.min_video_frames} video and {limits.min_audio_frames} audio frames"
        )
        with self.check("media at the lab", frames_expected) as check:
            report = await wait_for_media(lab.url, limits, limits.connect_seconds)
            video_frames = report.get("framesDecoded", 0)
            audio_frames = report.get("audioFrames", 0)
            check.ok = (
                video_frames >= limits.min_video_frames and audio_frames >= limits.min_audio_frames
            )
            check.measured = (
                f"{video_frames} video ({report.get('width')}x{report.get('height')}), "
                f"{audio_frames} audio frames"
            )
            check.values = {"videoFrames": video_frames, "audioFrames": audio_frames}

        with self.check("mic LED live", "on while connected and unmuted") as check:
            lit_at = await wait_level(self.mic, True, limits.follow_ms / 1000)
            check.ok = lit_at is not None and not video.muted
            check.measured = "on" if lit_at is not None else "off"

        await self._press(video)
        await self._bouncy_press(video)
        await self._hold(video)

    async def _press(self, video: Any) -> None:
        log = self.log
        with self.check("press: toggle mute", "muted; mic LED off within 100 ms") as check:
            mark = log.mark()
            self.drive.press()
            await asyncio.sleep(0.15)  # a short press is this long
            released = self.drive.release()
            hit = await log.wait_for(action_is("toggle_mute"), 1.0, mark)
            if hit is None:
                check.measured = "no toggle_mute action"
                return
            dark = await wait_level(self.mic, False, 1.0)
            lag = None if dark is None else max(dark - hit[0], 0.0)
            check.ok = video.muted and lag is not None and lag * 1000 <= self.limits.follow_ms
            check.measured = (
                f"action {(hit[0] - released) * 1000:.0f} ms after release, muted={video.muted}, "
                + ("mic LED still on" if lag is None else f"mic LED off after {lag * 1000:.1f} ms")
            )
            check.values = {"actionAfterReleaseMs": round((hit[0] - released) * 1000, 2)}

    async def _bouncy_press(self, video: Any) -> None:
        log = self.log
        bounce = self.wiring.panel.bounce_time
        with self.check(
            "bouncy press: one toggle", "one toggle_mute, unmuted, mic LED on"
        ) as check:
            mark = log.mark()
            self.drive.chatter(7, pressed_at_end=True)
            await asyncio.sleep(0.15)  # held between the bounces
            self.drive.chatter(7, pressed_at_end=False)
            hit = await log.wait_for(action_is("toggle_mute"), 1.0, mark)
            # Any second toggle would come within the bounce time plus the loop's latency.
            await asyncio.sleep(bounce + 0.3)
            toggles = [d for _, d in log.actions(mark) if d["action"] == "toggle_mute"]
            lit = await wait_level(self.mic, True, 0.2)
            check.ok = hit is not None and len(toggles) == 1 and not video.muted and lit is not None
            check.measured = f"{len(toggles)} toggle(s), muted={video.muted}, mic LED " + (
                "on" if lit is not None else "off"
            )
            check.values = {"toggles": len(toggles)}

    async def _hold(self, video: Any) -> None:
        log = self.log
        limits = self.limits
        hold = self.wiring.panel.hold_seconds
        with self.check("hold: reconnect now", f"reconnect after {hold:g} s, CONNECTED again") as c:
            mark = log.mark()
            pressed = self.drive.press()
            hit = await log.wait_for(action_is("reconnect"), hold + 1.0, mark)
            self.drive.release()
            if hit is None:
                c.measured = "no reconnect action"
                return
            fired = hit[0] - pressed
            back = await log.wait_for(state_is("CONNECTED"), limits.connect_seconds, mark)
            passed = [d["state"] for _, k, d in log.entries[mark:] if k == "onConnectionChange"]
            c.ok = (
                abs(fired - hold) <= limits.hold_tolerance
                and back is not None
                and "RECONNECT_PENDING" in passed
            )
            c.measured = f"fired at {fired:.2f} s; " + (
                f"CONNECTED again {back[0] - hit[0]:.2f} s later" if back else "not reconnected"
            )
            c.values = {"firedSeconds": round(fired, 3)}

    async def _network_cut(self, lab: Any) -> Any:
        """Stop the lab (the network is gone), see the pending pattern, restart it."""
        from alo_edge.lab import LabServer, LabSettings

        log = self.log
        limits = self.limits
        port = int(lab.url.rsplit(":", 1)[1])
        replacement = lab
        with self.check(
            "network cut: recovery",
            f"RECONNECT_PENDING shown, CONNECTED within {limits.recovery_seconds:g} s of return",
        ) as check:
            mark = log.mark()
            cut = time.monotonic()
            await lab.stop()
            # Wait for a real backoff wait (not the immediate first retry) and its dark phase.
            pending = await log.wait_for(
                lambda k, d: (
                    k == "onConnectionChange"
                    and d["state"] == "RECONNECT_PENDING"
                    and d.get("pendingRestartSeconds", 0) >= 1
                ),
                limits.recovery_seconds,
                mark,
            )
            dark = None if pending is None else await wait_level(self.status, False, 2.0)
            settings = lab.settings
            replacement = LabServer(
                LabSettings(
                    api_key=settings.api_key, secret=settings.secret, host="127.0.0.1", port=port
                )
            )
            await replacement.start()
            back_mark = log.mark()
            returned = time.monotonic()
            back = await log.wait_for(state_is("CONNECTED"), limits.recovery_seconds, back_mark)
            report = await wait_for_media(replacement.url, limits, limits.connect_seconds)
            frames = report.get("framesDecoded", 0)
            check.ok = (
                pending is not None
                and dark is not None
                and back is not None
                and frames >= limits.min_video_frames
            )
            check.measured = (
                ("pending seen" if pending else "no RECONNECT_PENDING")
                + (", LED dark phase seen" if dark else ", no dark phase")
                + (
                    f", CONNECTED {back[0] - returned:.2f} s after the lab returned"
                    if back
                    else ", not reconnected"
                )
                + f", {frames} frames at the new lab"
            )
            check.values = {
                "outageSeconds": round(returned - cut, 3),
                "recoverySeconds": None if back is None else round(back[0] - returned, 3),
                "framesAfter": frames,
            }
        return replacement

    def _follow(self) -> None:
        limit = self.limits.follow_ms
        with self.check("status LED followed", f"every state change within {limit:g} ms") as c:
            now = time.monotonic()
            lag = follow_lag(self.log.marks, self.status.edges(), now)
            c.ok = lag * 1000 <= limit
            c.measured = f"{len(self.log.marks)} state changes, worst lag {lag * 1000:.1f} ms"
            c.values = {"worstLagMs": round(lag * 1000, 2), "stateChanges": len(self.log.marks)}

    async def _long_hold(self, video: Any) -> None:
        log = self.log
        limits = self.limits
        long_hold = self.wiring.panel.long_hold_seconds
        with self.check(
            "long hold: restart",
            f"restart after {long_hold:g} s, exit {EXPECTED_RESTART_CODE}, LEDs dark on leaving",
        ) as check:
            mark = log.mark()
            pressed = self.drive.press()
            hit = await log.wait_for(action_is("restart"), long_hold + 1.0, mark)
            self.drive.release()
            if hit is None:
                check.measured = "no restart action"
                return
            fired = hit[0] - pressed
            # What the service does on a restart request: leave the channel, darken the panel.
            await video.disconnect()
            status_dark = not self.status.lit()
            mic_dark = not self.mic.lit()
            check.ok = (
                abs(fired - long_hold) <= limits.hold_tolerance
                and self.exit_codes == [EXPECTED_RESTART_CODE]
                and status_dark
                and mic_dark
            )
            check.measured = (
                f"fired at {fired:.2f} s, exit code {self.exit_codes}, "
                f"status LED {_on_off(not status_dark)}, mic LED {_on_off(not mic_dark)}"
            )
            check.values = {"firedSeconds": round(fired, 3), "exitCodes": self.exit_codes}


class _BenchAbort(AloEdgeError):
    """A check failed in a way that makes the rest meaningless (no session)."""


def _on_off(lit: bool) -> str:
    return "on" if lit else "off"


def _describe_pattern(pattern: LedPattern) -> str:
    if pattern.steady:
        return pattern.name
    return f"{pattern.name}: {pattern.frequency:.2f} Hz, duty {pattern.duty:.2f}"


# --- command line ---------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    """``scripts/hil-bench [--virtual] [--json] [--wiring FILE]``; returns the exit status."""
    parser = argparse.ArgumentParser(prog="hil-bench", description=__doc__.splitlines()[0])
    parser.add_argument("--virtual", action="store_true", help="gpiozero MockFactory, no hardware")
    parser.add_argument("--json", action="store_true", help="one JSON document on stdout")
    parser.add_argument("--wiring", type=Path, default=DEFAULT_WIRING, metavar="FILE")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        wiring = load_wiring(args.wiring)
    except ConfigError as exc:
        print(f"hil-bench: {exc}", file=sys.stderr)
        return EXIT_WIRING
    bench = Bench(wiring, virtual=args.virtual)
    try:
        report = asyncio.run(bench.run())
    except HardwareError as exc:
        print(f"hil-bench: hardware missing: {exc}", file=sys.stderr)
        return EXIT_HARDWARE
    except _BenchAbort as exc:
        report = bench.report
        report.error = str(exc)
    if args.json:
        print(json.dumps(report.to_json(), indent=2))
    else:
        print(report.table())
    return EXIT_PASSED if report.ok else EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
