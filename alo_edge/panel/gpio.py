"""HARDWARE: the panel's LEDs and button through gpiozero, on an explicit pin factory.

gpiozero is imported inside functions only, so this module imports on any laptop.
The pin factory always comes from ``gpio.pin_factory`` (never gpiozero's global
default), so a test, the demo and a Raspberry Pi differ in one argument:

- ``auto``: lgpio, the factory that works on every Pi model including the Pi 5;
- ``mock``: gpiozero's MockFactory with PWM-capable mock pins (the demo, CI, laptops);
- ``lgpio``, ``rpigpio``, ``pigpio``, ``native``: that gpiozero factory by name.

Threads: gpiozero reports button edges on its own threads. They cross into asyncio
in one place, :class:`ButtonBridge`, with ``loop.call_soon_threadsafe`` into a
bounded queue. LED patterns are played by a task on the event loop, which also
owns every write to the pins.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from alo_edge.config import GpioConfig
from alo_edge.errors import HardwareError
from alo_edge.panel.actions import ButtonEdge
from alo_edge.panel.patterns import BLACK, OFF, Colour, LedPattern

logger = logging.getLogger(__name__)

#: Edges waiting for the event loop. A person cannot press faster than this drains;
#: a full queue means the loop is wedged, and dropping edges beats growing forever.
BUTTON_QUEUE_SIZE = 64

_FIX_NO_FACTORY = (
    "on a Raspberry Pi install lgpio (pip install 'alo-edge[pi]', or apt install "
    "python3-lgpio with a --system-site-packages venv) and give the service user access "
    "to /dev/gpiochip* (group gpio); on a machine without GPIO set gpio.pin_factory = "
    '"mock" or gpio.enabled = false'
)


def is_virtual(factory: Any) -> bool:
    """True for gpiozero's MockFactory: pins nobody can see."""
    from gpiozero.pins.mock import MockFactory

    return isinstance(factory, MockFactory)


def open_pin_factory(name: str) -> Any:
    """The gpiozero pin factory named by ``gpio.pin_factory``; HardwareError when it cannot load.

    The caller owns the factory and closes it (``factory.close()``) when done.
    """
    if name == "mock":
        from gpiozero.pins.mock import MockFactory, MockPWMPin

        # PWM-capable mock pins, so an RGB LED's colours work as on a real Pi.
        return MockFactory(pin_class=MockPWMPin)
    factory_name = "lgpio" if name == "auto" else name
    try:
        from importlib.metadata import entry_points

        (entry,) = entry_points(group="gpiozero_pin_factories", name=factory_name)
        return entry.load()()
    except Exception as exc:
        reason = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        raise HardwareError(
            f"no GPIO pin factory loads (gpio.pin_factory = {name!r} tried {factory_name}: "
            f"{reason}); {_FIX_NO_FACTORY}"
        ) from exc


def describe_factory(factory: Any) -> str:
    """The backend in words, for ``alo-edge check`` and the bench."""
    names = {
        "MockFactory": "mock (gpiozero MockFactory: virtual pins, no hardware)",
        "LGPIOFactory": "lgpio",
        "RPiGPIOFactory": "rpigpio (RPi.GPIO)",
        "PiGPIOFactory": "pigpio (pigpiod)",
        "NativeFactory": "native (gpiozero's experimental /dev/gpiomem driver)",
    }
    kind = type(factory).__name__
    return names.get(kind, kind)


def pin_assignments(gpio: GpioConfig) -> list[tuple[str, str]]:
    """``(role, pins and options)`` for each configured panel part, for a person."""
    lit = "lit when high" if gpio.active_high else "lit when low"
    rows: list[tuple[str, str]] = []
    if gpio.status_led is not None:
        rows.append(("status LED", f"GPIO{gpio.status_led} ({lit})"))
    if gpio.rgb_led:
        red, green, blue = gpio.rgb_led
        rows.append(("RGB LED", f"red GPIO{red}, green GPIO{green}, blue GPIO{blue} ({lit}, PWM)"))
    if gpio.mic_led is not None:
        rows.append(("mic LED", f"GPIO{gpio.mic_led} ({lit})"))
    if gpio.button is not None:
        wiring = "to ground, pull-up" if gpio.pull_up else "to 3V3, pull-down"
        rows.append(
            (
                "button",
                f"GPIO{gpio.button} ({wiring}, bounce {gpio.bounce_time:g} s, "
                f"hold {gpio.hold_seconds:g} s, long hold {gpio.long_hold_seconds:g} s)",
            )
        )
    return rows


def check_panel_pins(
    gpio: GpioConfig, pin_factory: Any | None = None
) -> tuple[str, list[tuple[str, str]]]:
    """Open the backend, claim every configured pin, release them: ``(backend, pins)``.

    What ``alo-edge check`` runs. Raises HardwareError naming the problem and the fix
    when no factory loads or a pin is invalid or already taken.
    """
    factory = pin_factory if pin_factory is not None else open_pin_factory(gpio.pin_factory)
    try:
        GpiozeroPanel(gpio, factory).close()
        return describe_factory(factory), pin_assignments(gpio)
    finally:
        if pin_factory is None:
            factory.close()


class ButtonBridge:
    """The one crossing from gpiozero's callback threads into the event loop.

    Built in an async context, so it captures the running loop; ``pressed`` and
    ``released`` may then be called from any thread. Each edge is stamped with
    ``time.monotonic()`` on the thread that saw it, before any queueing delay.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, queue: asyncio.Queue[ButtonEdge]) -> None:
        self._loop = loop
        self._queue = queue
        self.dropped = 0

    def pressed(self) -> None:
        """gpiozero ``when_pressed``: runs on a gpiozero thread."""
        self._cross(ButtonEdge(pressed=True, at=time.monotonic()))

    def released(self) -> None:
        """gpiozero ``when_released``: runs on a gpiozero thread."""
        self._cross(ButtonEdge(pressed=False, at=time.monotonic()))

    def _cross(self, edge: ButtonEdge) -> None:
        # A late edge while the service shuts down has nowhere to go; that is fine.
        with contextlib.suppress(RuntimeError):
            self._loop.call_soon_threadsafe(self._enqueue, edge)

    def _enqueue(self, edge: ButtonEdge) -> None:
        try:
            self._queue.put_nowait(edge)
        except asyncio.QueueFull:
            self.dropped += 1
            logger.warning("button edge dropped: the event loop is not keeping up")


@dataclass(frozen=True)
class _Showing:
    pattern: LedPattern
    colour: Colour


class GpiozeroPanel:
    """The :class:`~alo_edge.panel.hardware.PanelHardware` of gpiozero: ``gpio``'s pins on
    ``factory``.

    Opening claims the pins (HardwareError naming the key when one is invalid or
    taken). :meth:`start` captures the event loop and connects the button;
    :meth:`show` and :meth:`set_mic` change what the LEDs show at once;
    :meth:`stop` turns every LED off and ends the pattern player; :meth:`close`
    releases the pins, and the factory too when ``owns_factory``.
    """

    def __init__(self, gpio: GpioConfig, factory: Any, *, owns_factory: bool = False) -> None:
        self._gpio = gpio
        self.factory = factory
        self._owns_factory = owns_factory
        self._devices: list[Any] = []
        self._status: Any = None
        self._rgb: Any = None
        self._mic: Any = None
        self._button: Any = None
        self._edges: asyncio.Queue[ButtonEdge] | None = None
        self._bridge: ButtonBridge | None = None
        self._showing = _Showing(OFF, BLACK)
        self._player: asyncio.Task[None] | None = None
        self._retired: set[asyncio.Task[None]] = set()
        try:
            self._open()
        except BaseException:
            self.close()
            raise

    def _open(self) -> None:
        from gpiozero import LED, RGBLED, Button

        gpio = self._gpio
        factory = self.factory
        if gpio.status_led is not None:
            self._status = self._claim(
                "gpio.status_led",
                lambda: LED(gpio.status_led, active_high=gpio.active_high, pin_factory=factory),
            )
        if gpio.rgb_led:
            red, green, blue = gpio.rgb_led
            self._rgb = self._claim(
                "gpio.rgb_led",
                lambda: RGBLED(red, green, blue, active_high=gpio.active_high, pin_factory=factory),
            )
        if gpio.mic_led is not None:
            self._mic = self._claim(
                "gpio.mic_led",
                lambda: LED(gpio.mic_led, active_high=gpio.active_high, pin_factory=factory),
            )
        if gpio.button is not None:
            self._button = self._claim(
                "gpio.button",
                lambda: Button(
                    gpio.button,
                    pull_up=gpio.pull_up,
                    bounce_time=gpio.bounce_time or None,
                    pin_factory=factory,
                ),
            )

    def _claim(self, key: str, build: Callable[[], Any]) -> Any:
        try:
            device = build()
        except Exception as exc:
            raise HardwareError(f"{key}: {_pin_problem(exc)}") from exc
        self._devices.append(device)
        return device

    @property
    def virtual(self) -> bool:
        """True on gpiozero's MockFactory."""
        return is_virtual(self.factory)

    @property
    def leds(self) -> frozenset[str]:
        """The LEDs configured: ``status``, ``rgb``, ``mic``."""
        fitted = (("status", self._status), ("rgb", self._rgb), ("mic", self._mic))
        return frozenset(name for name, device in fitted if device is not None)

    @property
    def has_button(self) -> bool:
        """True when a button is configured."""
        return self._button is not None

    @property
    def button_edges(self) -> asyncio.Queue[ButtonEdge]:
        """Bridged button edges, oldest first; exists once :meth:`start` ran."""
        if self._edges is None:
            raise RuntimeError("PanelHardware.start() has not run")
        return self._edges

    @property
    def status_led(self) -> Any:
        """The gpiozero LED (or None): tests and the bench read its pin."""
        return self._status

    @property
    def rgb_led(self) -> Any:
        """The gpiozero RGBLED (or None)."""
        return self._rgb

    @property
    def mic_led(self) -> Any:
        """The gpiozero mic-live LED (or None)."""
        return self._mic

    @property
    def button(self) -> Any:
        """The gpiozero Button (or None)."""
        return self._button

    async def start(self) -> None:
        """Capture the running loop and start bridging button edges into it."""
        self._edges = asyncio.Queue(BUTTON_QUEUE_SIZE)
        self._bridge = ButtonBridge(asyncio.get_running_loop(), self._edges)
        if self._button is not None:
            self._button.when_pressed = self._bridge.pressed
            self._button.when_released = self._bridge.released

    def show(self, pattern: LedPattern, colour: Colour) -> None:
        """Show ``pattern`` on the status LED (and ``colour`` on the RGB LED) from now on.

        The first level is written before this returns, so the LEDs follow a state
        change within the time of a pin write; the rest of a blink is played by a
        task. Showing what is already shown changes nothing, so a re-emitted state
        (the RECONNECT_PENDING countdown) does not restart the rhythm.
        """
        showing = _Showing(pattern, colour)
        if showing == self._showing:
            return
        self._showing = showing
        self._retire_player()
        lit, remaining = pattern.level_at(0.0)
        self._write_status(lit, colour)
        if not math.isinf(remaining):
            started = asyncio.get_running_loop().time()
            self._player = asyncio.create_task(
                self._play(pattern, colour, started, remaining), name="alo-edge status LED"
            )
            self._player.add_done_callback(_log_player_failure)

    def set_mic(self, lit: bool) -> None:
        """Light or darken the mic-live LED (steady)."""
        if self._mic is not None and not self._mic.closed:
            self._mic.value = lit

    async def stop(self) -> None:
        """End the pattern player and turn every LED off (the pins stay claimed)."""
        self._retire_player()
        retired, self._retired = self._retired, set()
        await asyncio.gather(*retired, return_exceptions=True)
        self._showing = _Showing(OFF, BLACK)
        if self._button is not None and not self._button.closed:
            self._button.when_pressed = None
            self._button.when_released = None
        for device in (self._status, self._rgb, self._mic):
            if device is not None and not device.closed:
                device.off()

    def close(self) -> None:
        """Release every pin (idempotent); call :meth:`stop` first to darken the LEDs."""
        devices, self._devices = self._devices, []
        for device in reversed(devices):
            try:
                device.close()
            except Exception:
                logger.exception("closing %r failed", device)
        if self._owns_factory:
            self._owns_factory = False
            self.factory.close()

    async def _play(
        self, pattern: LedPattern, colour: Colour, started: float, first_wait: float
    ) -> None:
        loop = asyncio.get_running_loop()
        await asyncio.sleep(first_wait)
        while True:
            # The level comes from the time since the pattern started, not from counting
            # segments, so a late wake-up shortens one segment instead of shifting all.
            lit, remaining = pattern.level_at(loop.time() - started)
            self._write_status(lit, colour)
            await asyncio.sleep(remaining)

    def _retire_player(self) -> None:
        player, self._player = self._player, None
        if player is not None and not player.done():
            player.cancel()
            self._retired.add(player)
            player.add_done_callback(self._retired.discard)

    def _write_status(self, lit: bool, colour: Colour) -> None:
        if self._status is not None and not self._status.closed:
            self._status.value = lit
        if self._rgb is not None and not self._rgb.closed:
            self._rgb.color = colour.rgb if lit else BLACK.rgb


def _log_player_failure(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        logger.error("the status LED player stopped", exc_info=task.exception())


def _pin_problem(exc: Exception) -> str:
    """What went wrong with a pin, and what to do, in words."""
    kind = type(exc).__name__
    text = str(exc)
    if kind == "GPIOPinInUse" or "busy" in text.lower():
        return (
            f"the pin is already in use ({text}); stop the other program or service using it "
            "(is another alo-edge running?) or choose a free pin"
        )
    if kind in ("PinInvalidPin", "PinNoPins"):
        return f"no such pin on this board ({text}); use a BCM GPIO number 0-27"
    if kind == "PinPWMUnsupported":
        return f"this pin cannot do PWM ({text}); the RGB LED needs PWM-capable pins"
    return f"{kind}: {text}"


__all__ = [
    "BUTTON_QUEUE_SIZE",
    "ButtonBridge",
    "GpiozeroPanel",
    "describe_factory",
    "is_virtual",
    "open_pin_factory",
    "pin_assignments",
]
