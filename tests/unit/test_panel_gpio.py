"""The panel at pin level, on gpiozero's MockFactory: patterns, colours, mic LED, gestures.

Nothing is mocked but the pins themselves (gpiozero's own MockFactory with PWM mock
pins). Timed patterns are checked with ``assert_states_and_times`` (+-50 ms); waits
are bounded waits for a pin or an event, never a fixed sleep standing in for one.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from gpiozero import LED
from gpiozero.pins.mock import MockFactory, MockPWMPin

from alo_edge import cli
from alo_edge.api import AloVideo, VideoUser
from alo_edge.app import build_components
from alo_edge.config import Config, GpioConfig, config_from_dict
from alo_edge.errors import ExitCode, HardwareError
from alo_edge.events import Event
from alo_edge.panel import PANEL_LED_EVENT, Panel
from alo_edge.panel.gpio import GpiozeroPanel, check_panel_pins, open_pin_factory
from alo_edge.panel.patterns import LedPattern, state_colour, status_pattern
from alo_edge.session.states import ConnectionState
from alo_edge.system.notify import Notifier

S = ConnectionState
STATUS, RED, GREEN, BLUE, MIC, BUTTON = 17, 5, 6, 13, 22, 27
HOLD, LONG_HOLD, BOUNCE = 0.3, 0.6, 0.05
WAIT = 5.0


def gpio_config(**overrides: Any) -> GpioConfig:
    return config(**overrides).gpio


def config(audio_mode: str = "full_duplex", **overrides: Any) -> Config:
    gpio: dict[str, Any] = {
        "enabled": True,
        "pin_factory": "mock",
        "status_led": STATUS,
        "rgb_led": [RED, GREEN, BLUE],
        "mic_led": MIC,
        "button": BUTTON,
        "bounce_time": BOUNCE,
        "hold_seconds": HOLD,
        "long_hold_seconds": LONG_HOLD,
        **overrides,
    }
    return config_from_dict(
        {
            "device": {"user_id": "door-1"},
            "alo": {"channel": "front", "url": "http://127.0.0.1:9/whip/front"},
            "audio": {"mode": audio_mode},
            "gpio": gpio,
        }
    )


@pytest.fixture
def factory() -> Iterator[Any]:
    pins = MockFactory(pin_class=MockPWMPin)
    try:
        yield pins
    finally:
        pins.close()


@pytest.fixture
async def hardware(factory: Any) -> AsyncIterator[GpiozeroPanel]:
    panel = GpiozeroPanel(gpio_config(), factory)
    try:
        await panel.start()
        yield panel
    finally:
        await panel.stop()
        panel.close()


async def wait_until(condition: Callable[[], bool], within: float = WAIT) -> None:
    """Until ``condition()`` holds; fails after ``within`` seconds."""
    deadline = time.monotonic() + within
    while not condition():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.005)  # re-check a pin's recorded history


def expected_states(pattern: LedPattern, cycles: int) -> list[tuple[float, bool]]:
    """What assert_states_and_times expects after clear_states() and show(pattern)."""
    states: list[tuple[float, bool]] = [(0.0, False), (0.0, True)]
    previous = True
    segments = list(pattern.segments) * cycles
    for (lit, seconds), (next_lit, _) in zip(segments, [*segments[1:], segments[0]], strict=True):
        assert lit == previous
        states.append((seconds, next_lit))
        previous = next_lit
    return states


# --- patterns on the status pin -------------------------------------------------------


CASES = [(state.value, state, False) for state in S] + [("auth", S.ERROR, True)]


@pytest.mark.parametrize(("label", "state", "auth"), CASES, ids=[c[0] for c in CASES])
async def test_each_state_pattern_on_the_status_pin(
    hardware: GpiozeroPanel, factory: Any, label: str, state: ConnectionState, auth: bool
) -> None:
    pin = factory.pin(STATUS)
    pattern = status_pattern(state, auth)
    pin.clear_states()
    hardware.show(pattern, state_colour(state, auth))
    if pattern.steady:
        if pattern.duty:
            pin.assert_states_and_times([(0.0, False), (0.0, True)])
        # A steady pattern has no rhythm to play: it must not change again.
        await asyncio.sleep(0.3)  # a window in which nothing may happen
        assert len(pin.states) == (2 if pattern.duty else 1)
        return
    cycles = 2 if pattern.period < 1 else 1
    want = expected_states(pattern, cycles)
    await wait_until(lambda: len(pin.states) >= len(want), pattern.period * cycles + 1)
    pin.assert_states_and_times(want)


async def test_a_repeated_pattern_keeps_its_rhythm(hardware: GpiozeroPanel, factory: Any) -> None:
    # RECONNECT_PENDING is re-emitted every second; the 0.5 Hz blink must not restart.
    pin = factory.pin(STATUS)
    pattern = status_pattern(S.RECONNECT_PENDING)
    pin.clear_states()
    hardware.show(pattern, state_colour(S.RECONNECT_PENDING))
    await wait_until(lambda: len(pin.states) >= 3)  # lit, then dark after 1 s
    hardware.show(pattern, state_colour(S.RECONNECT_PENDING))
    await wait_until(lambda: len(pin.states) >= 4)
    pin.assert_states_and_times([(0.0, False), (0.0, True), (1.0, False), (1.0, True)])


# --- colours, active-low, mic LED, off on stop ------------------------------------------


def rgb_pins(factory: Any) -> tuple[float, float, float]:
    return tuple(float(factory.pin(p).state) for p in (RED, GREEN, BLUE))  # type: ignore[return-value]


@pytest.mark.parametrize(
    ("state", "auth", "rgb"),
    [
        (S.CONNECTED, False, (0.0, 1.0, 0.0)),
        (S.CONNECTING, False, (0.0, 0.0, 1.0)),
        (S.ERROR, False, (1.0, 0.0, 0.0)),
        (S.RECONNECT_PENDING, False, (1.0, 0.5, 0.0)),
        (S.RECONNECT_PENDING, True, (1.0, 0.0, 1.0)),
        (S.DISCONNECTED, False, (0.0, 0.0, 0.0)),
    ],
)
async def test_rgb_led_shows_the_state_colour_with_the_status_rhythm(
    hardware: GpiozeroPanel,
    factory: Any,
    state: ConnectionState,
    auth: bool,
    rgb: tuple[float, float, float],
) -> None:
    pattern = status_pattern(state, auth)
    hardware.show(pattern, state_colour(state, auth))
    assert rgb_pins(factory) == pytest.approx(rgb)
    if not pattern.steady and pattern.period < 1:
        # The dark half of the rhythm darkens every channel.
        await wait_until(lambda: factory.pin(STATUS).state == 0, pattern.period)
        assert rgb_pins(factory) == (0.0, 0.0, 0.0)


async def test_active_low_leds_pull_the_pin_low_to_light(factory: Any) -> None:
    panel = GpiozeroPanel(gpio_config(active_high=False), factory)
    try:
        await panel.start()
        hardware_off = factory.pin(STATUS).state
        panel.show(status_pattern(S.CONNECTED), state_colour(S.CONNECTED))
        panel.set_mic(True)
        assert (hardware_off, factory.pin(STATUS).state, factory.pin(MIC).state) == (1, 0, 0)
        await panel.stop()
        assert factory.pin(STATUS).state == 1  # off again: high
    finally:
        panel.close()


async def test_mic_led_follows_the_session_and_mute(factory: Any) -> None:
    panel = Panel(gpio_config(), request_restart=lambda: None, pin_factory=factory)
    video = unconnected_video()
    await panel.start(video)
    try:
        mic = factory.pin(MIC)
        panel.show_state(S.CONNECTED, muted=False)
        assert mic.state == 1
        panel.show_state(S.CONNECTED, muted=True)
        assert mic.state == 0
        panel.show_state(S.RECONNECT_PENDING, muted=False)
        assert mic.state == 0
        panel.show_state(S.CONNECTED, muted=False, has_microphone=False)
        assert mic.state == 0
    finally:
        await panel.stop()


async def test_every_led_goes_off_on_stop(factory: Any) -> None:
    panel = Panel(gpio_config(), request_restart=lambda: None, pin_factory=factory)
    await panel.start(unconnected_video())
    panel.show_state(S.CONNECTED)
    assert factory.pin(STATUS).state == 1
    assert factory.pin(MIC).state == 1
    panel.show_state(S.ERROR)  # a blink task is running now
    await panel.stop()
    states = [factory.pin(p).state for p in (STATUS, RED, GREEN, BLUE, MIC)]
    assert states == [0, 0, 0, 0, 0]
    assert [t for t in asyncio.all_tasks() if t.get_name() == "alo-edge status LED"] == []


async def test_led_changes_are_announced_for_a_person(factory: Any) -> None:
    video = unconnected_video()
    lines: list[dict[str, Any]] = []
    video.events.add_event_listener(PANEL_LED_EVENT, lambda e: lines.append(e.detail))
    panel = Panel(gpio_config(), request_restart=lambda: None, pin_factory=factory)
    await panel.start(video)
    try:
        lines.clear()
        panel.show_state(S.CONNECTING)
        panel.show_state(S.CONNECTING)  # unchanged: nothing new to say
    finally:
        await panel.stop()
    assert lines == [
        {"led": "status", "pattern": "blink 2 Hz", "state": "CONNECTING"},
        {"led": "rgb", "pattern": "blink 2 Hz", "colour": "blue", "state": "CONNECTING"},
    ]


# --- the button, driven at pin level ----------------------------------------------------


def unconnected_video() -> AloVideo:
    settings = config()
    return AloVideo(VideoUser("door-1"), "token", config=settings)


class ActionLog:
    """onPanelAction events as they come; waits are bounded."""

    def __init__(self, video: AloVideo) -> None:
        self.seen: list[tuple[float, dict[str, Any]]] = []
        self._arrived = asyncio.Event()
        video.events.add_event_listener("onPanelAction", self._record)

    def _record(self, event: Event) -> None:
        self.seen.append((time.monotonic(), event.detail))
        self._arrived.set()

    async def next(self, count: int = 1) -> tuple[float, dict[str, Any]]:
        async with asyncio.timeout(WAIT):
            while len(self.seen) < count:
                self._arrived.clear()
                await self._arrived.wait()
        return self.seen[count - 1]


@pytest.fixture
async def button_panel(factory: Any) -> AsyncIterator[tuple[Panel, AloVideo, ActionLog]]:
    video = unconnected_video()
    log = ActionLog(video)
    panel = Panel(gpio_config(), request_restart=lambda: None, pin_factory=factory)
    await panel.start(video)
    try:
        yield panel, video, log
    finally:
        await panel.stop()


async def test_press_toggles_mute(
    button_panel: tuple[Panel, AloVideo, ActionLog], factory: Any
) -> None:
    _, video, log = button_panel
    button = factory.pin(BUTTON)
    button.drive_low()  # pull-up: pressed is low
    button.drive_high()
    _, detail = await log.next()
    assert detail["action"] == "toggle_mute"
    assert detail["gesture"] == "press"
    assert video.muted is True
    await asyncio.sleep(BOUNCE)  # a person's next press comes after the bounce time
    button.drive_low()
    button.drive_high()
    await log.next(2)
    assert video.muted is False


async def test_bouncy_press_toggles_once(
    button_panel: tuple[Panel, AloVideo, ActionLog], factory: Any
) -> None:
    _, video, log = button_panel
    button = factory.pin(BUTTON)
    for _ in range(4):  # contact chatter within a millisecond or two
        button.drive_low()
        button.drive_high()
    button.drive_low()
    await asyncio.sleep(0.1)  # the finger stays down a moment
    for _ in range(4):
        button.drive_high()
        button.drive_low()
    button.drive_high()
    await log.next()
    await asyncio.sleep(BOUNCE + 0.15)  # a window in which a second toggle would show
    assert [d["action"] for _, d in log.seen] == ["toggle_mute"]
    assert video.muted is True


async def test_hold_reconnects_after_hold_seconds(
    button_panel: tuple[Panel, AloVideo, ActionLog], factory: Any
) -> None:
    _, video, log = button_panel
    button = factory.pin(BUTTON)
    pressed = time.monotonic()
    button.drive_low()
    at, detail = await log.next()
    button.drive_high()
    assert detail["action"] == "reconnect"
    assert detail["gesture"] == "hold"
    assert at - pressed == pytest.approx(HOLD, abs=0.05)
    assert video.muted is False  # releasing after a hold is not a press


async def test_long_hold_requests_a_restart(factory: Any) -> None:
    video = unconnected_video()
    log = ActionLog(video)
    restarts: list[float] = []
    panel = Panel(
        gpio_config(),
        request_restart=lambda: restarts.append(time.monotonic()),
        pin_factory=factory,
    )
    await panel.start(video)
    try:
        button = factory.pin(BUTTON)
        pressed = time.monotonic()
        button.drive_low()
        await log.next(2)
        button.drive_high()
    finally:
        await panel.stop()
    assert [d["action"] for _, d in log.seen] == ["reconnect", "restart"]
    assert panel.restart_requested
    assert restarts[0] - pressed == pytest.approx(LONG_HOLD, abs=0.05)


async def test_the_services_panel_exits_75_on_a_long_hold() -> None:
    # The wiring the service uses: build_components puts the panel beside the session and
    # hands it request_stop; a long hold asks for ExitCode.RESTART (75, systemd restarts us).
    codes: list[int] = []
    components = build_components(config(), Notifier(environ={}), request_stop=codes.append)
    (panel,) = [c for c in components if isinstance(c, Panel)]
    video = unconnected_video()
    log = ActionLog(video)
    await panel.start(video)
    try:
        button = panel.hardware.factory.pin(BUTTON)  # its own MockFactory, from gpio.pin_factory
        button.drive_low()
        await log.next(2)
        button.drive_high()
    finally:
        await panel.stop()
    assert codes == [ExitCode.RESTART] == [75]


async def test_push_to_talk_unmutes_while_held(factory: Any) -> None:
    settings = config(audio_mode="ptt")
    video = AloVideo(VideoUser("door-1"), "token", config=settings)
    await video.set_muted(True)  # what the service does for audio.mode = "ptt"
    log = ActionLog(video)
    panel = Panel(
        settings.gpio, audio_mode="ptt", request_restart=lambda: None, pin_factory=factory
    )
    await panel.start(video)
    try:
        button = factory.pin(BUTTON)
        button.drive_low()
        _, down = await log.next()
        assert down == {
            "action": "push_to_talk",
            "gesture": "button_down",
            "heldSeconds": 0.0,
            "muted": False,
        }
        assert video.muted is False
        await asyncio.sleep(HOLD + 0.1)  # talking past the hold time reconnects nothing
        button.drive_high()
        _, up = await log.next(2)
        assert up["gesture"] == "button_up"
        assert up["muted"] is True
        assert video.muted is True
        assert [d["action"] for _, d in log.seen] == ["push_to_talk", "push_to_talk"]
    finally:
        await panel.stop()


# --- backends, pins taken, `alo-edge check` ---------------------------------------------


def test_auto_without_gpio_hardware_names_the_problem_and_the_fix() -> None:
    with pytest.raises(HardwareError) as caught:
        open_pin_factory("auto")
    message = str(caught.value)
    assert "no GPIO pin factory loads" in message
    assert "lgpio" in message
    assert 'gpio.pin_factory = "mock"' in message


def test_a_pin_already_in_use_is_a_hardware_error_naming_the_key(factory: Any) -> None:
    squatter = LED(MIC, pin_factory=factory)
    try:
        with pytest.raises(HardwareError, match=r"gpio\.mic_led: the pin is already in use"):
            GpiozeroPanel(gpio_config(), factory)
        # Nothing stays claimed after the failure: the status LED's pin is free again.
        LED(STATUS, pin_factory=factory).close()
    finally:
        squatter.close()


def test_check_reports_backend_and_pins(factory: Any) -> None:
    backend, pins = check_panel_pins(gpio_config(), factory)
    assert backend.startswith("mock")
    assert dict(pins)["status LED"] == "GPIO17 (lit when high)"
    assert dict(pins)["RGB LED"].startswith("red GPIO5, green GPIO6, blue GPIO13")


def write_config(path: Path, pin_factory: str) -> Path:
    path.write_text(
        "[device]\nuser_id = 'door-1'\n"
        "[alo]\nchannel = 'front'\nurl = 'http://127.0.0.1:9/whip/front'\n"
        f"[gpio]\nenabled = true\npin_factory = '{pin_factory}'\n"
        "status_led = 17\nmic_led = 22\nbutton = 27\n",
        encoding="utf-8",
    )
    return path


def test_alo_edge_check_on_mock_pins(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # Only the pins: this config has no token and no server, which `check` now fails on.
    config = str(write_config(tmp_path / "c.toml", "mock"))
    assert cli.main(["check", "-c", config, "--only", "gpio"]) == 0
    out = capsys.readouterr().out
    assert "gpio backend: mock" in out
    assert "gpio status LED: GPIO17" in out
    assert "gpio button: GPIO27 (to ground, pull-up" in out
    assert "gpio: ok" in out


def test_alo_edge_check_fails_with_69_when_no_factory_loads(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["check", "-c", str(write_config(tmp_path / "c.toml", "auto"))]) == 69
    err = capsys.readouterr().err
    assert err.startswith("alo-edge: hardware missing: no GPIO pin factory loads")
