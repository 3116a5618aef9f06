"""The panel beside a session: LEDs follow the connection state, the button commands it.

:class:`Panel` is a session component (``start(video)`` / ``stop()``). On every
``onConnectionChange`` it looks up the patterns (:mod:`~alo_edge.panel.patterns`)
and shows them on the pins (:mod:`~alo_edge.panel.gpio`) before the listener
returns, so the LEDs follow the session within the time of a pin write. Button
gestures go through :mod:`~alo_edge.panel.actions`.

Each LED change is announced as ``onPanelLedChange`` {led, pattern, colour?, state}
on the session's events, which the demo prints for a person
("status LED: blink 2 Hz"); on a mock pin factory it is also logged at INFO, since
there is no LED to look at.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from alo_edge.config import GpioConfig
from alo_edge.errors import AuthError, HardwareError
from alo_edge.events import Event
from alo_edge.panel.actions import (
    Action,
    ButtonActions,
    ButtonMapping,
    detector_for,
    follow_button,
)
from alo_edge.panel.gpio import GpiozeroPanel, open_pin_factory
from alo_edge.panel.hardware import PanelHardware
from alo_edge.panel.patterns import mic_live, state_colour, status_pattern
from alo_edge.session.states import ConnectionState
from alo_edge.session.view import SessionView

logger = logging.getLogger(__name__)

#: The event every LED change is announced with.
PANEL_LED_EVENT = "onPanelLedChange"
_LED_NAMES = {"status": "status LED", "rgb": "RGB LED", "mic": "mic LED"}


def log_task_failure(task: asyncio.Task[Any]) -> None:
    """Done-callback: a panel task that died is logged at once, not at shutdown."""
    if not task.cancelled() and task.exception() is not None:
        logger.error(
            "%s stopped: the panel no longer follows it", task.get_name(), exc_info=task.exception()
        )


def led_line(detail: dict[str, Any]) -> str:
    """One ``onPanelLedChange`` for a person: ``status LED: blink 2 Hz``."""
    name = _LED_NAMES.get(detail.get("led", ""), str(detail.get("led")))
    if "colour" in detail and detail["colour"] != "off" and detail["pattern"] != "off":
        return f"{name}: {detail['colour']}, {detail['pattern']}"
    return f"{name}: {detail['pattern']}"


class Panel:
    """The panel of one session; built from ``gpio``, started with the session.

    ``pin_factory`` None opens ``gpio.pin_factory`` at :meth:`start` and closes it at
    :meth:`stop`; a given factory (the bench's, a test's) stays its owner's.
    ``request_restart`` is called on the restart gesture: the service stops and
    exits so that systemd's ``Restart=`` starts it afresh.
    """

    def __init__(
        self,
        gpio: GpioConfig,
        *,
        audio_mode: str = "full_duplex",
        request_restart: Callable[[], None],
        pin_factory: Any | None = None,
    ) -> None:
        self._gpio = gpio
        self._mapping = ButtonMapping.from_config(
            gpio.on_press, gpio.on_hold, gpio.on_long_hold, audio_mode
        )
        self._request_restart = request_restart
        self._given_factory = pin_factory
        self._hardware: PanelHardware | None = None
        self._session: SessionView | None = None
        self._button_task: asyncio.Task[None] | None = None
        self._shown: dict[str, dict[str, Any]] = {}
        self.restart_requested = False

    @property
    def hardware(self) -> PanelHardware:
        """The LEDs and button while started (tests and the bench read their pins)."""
        if self._hardware is None:
            raise RuntimeError("the panel is not started")
        return self._hardware

    async def start(self, session: SessionView) -> None:
        """Claim the pins, show the session's current state, and follow it from now on."""
        self._hardware = hardware = self._open_hardware()
        self._session = session
        await hardware.start()
        session.events.add_event_listener("onConnectionChange", self._on_connection_change)
        self.render()
        if hardware.has_button:
            actions = ButtonActions(
                session,
                self._mapping,
                request_restart=self._restart,
                on_performed=self._on_action,
            )
            detector = detector_for(
                self._mapping,
                hold_seconds=self._gpio.hold_seconds,
                long_hold_seconds=self._gpio.long_hold_seconds,
                bounce_seconds=self._gpio.bounce_time,
            )
            self._button_task = asyncio.create_task(
                follow_button(hardware.button_edges, detector, actions), name="alo-edge button"
            )
            self._button_task.add_done_callback(log_task_failure)
        if self._mapping.push_to_talk and (
            self._gpio.on_hold != "none" or self._gpio.on_long_hold != "none"
        ):
            logger.info("the button is push-to-talk: hold and long hold are off while talking")

    async def stop(self) -> None:
        """Stop following the session, turn every LED off, release the pins."""
        session, self._session = self._session, None
        if session is not None:
            session.events.remove_event_listener("onConnectionChange", self._on_connection_change)
        task, self._button_task = self._button_task, None
        if task is not None:
            task.cancel()
            # A failure was logged when it happened; shutting down goes on regardless.
            await asyncio.gather(task, return_exceptions=True)
        hardware, self._hardware = self._hardware, None
        if hardware is not None:
            try:
                await hardware.stop()
            finally:
                hardware.close()
        self._shown.clear()

    def _open_hardware(self) -> PanelHardware:
        if self._given_factory is not None:
            return GpiozeroPanel(self._gpio, self._given_factory)
        factory = open_pin_factory(self._gpio.pin_factory)
        try:
            return GpiozeroPanel(self._gpio, factory, owns_factory=True)
        except BaseException:
            factory.close()
            raise

    def render(self) -> None:
        """Show the session's current state (called on every state change)."""
        session = self._session
        if session is None:
            return
        state = ConnectionState(session.connection_state)
        self.show_state(
            state,
            auth_failed=isinstance(session.last_error, AuthError),
            device_missing=isinstance(session.last_error, HardwareError),
            muted=session.muted,
            has_microphone=any(s.kind == "audio" for s in session.media_sources),
        )

    def show_state(
        self,
        state: ConnectionState,
        *,
        auth_failed: bool = False,
        device_missing: bool = False,
        muted: bool = False,
        has_microphone: bool = True,
    ) -> None:
        """Show ``state`` on every LED now (the bench calls this to measure each pattern)."""
        hardware = self.hardware
        pattern = status_pattern(state, auth_failed, device_missing)
        colour = state_colour(state, auth_failed, device_missing)
        hardware.show(pattern, colour)
        live = mic_live(state, muted, has_microphone)
        hardware.set_mic(live)
        if "status" in hardware.leds:
            self._announce("status", state, pattern=pattern.name)
        if "rgb" in hardware.leds:
            self._announce("rgb", state, pattern=pattern.name, colour=colour.name)
        if "mic" in hardware.leds:
            self._announce("mic", state, pattern="on" if live else "off")

    def _announce(self, led: str, state: ConnectionState, **shown: str) -> None:
        if self._shown.get(led) == shown:
            return
        self._shown[led] = shown
        detail: dict[str, Any] = {"led": led, **shown, "state": state.value}
        line = led_line(detail)
        if self.hardware.virtual:
            logger.info("virtual panel: %s", line)
        else:
            logger.debug("%s", line)
        if self._session is not None:
            self._session.events.dispatch_event(Event(PANEL_LED_EVENT, detail))

    def _on_connection_change(self, event: Event) -> None:
        self.render()

    def _on_action(self, action: Action) -> None:
        # Mute changes do not come with a state change; the mic LED must follow them too.
        self.render()

    def _restart(self) -> None:
        self.restart_requested = True
        self._request_restart()


__all__ = ["PANEL_LED_EVENT", "Panel", "led_line"]
