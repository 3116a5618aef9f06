"""The panel's hardware contract: what the controller does to LEDs and reads from a button.

gpiozero's own ``pins/__init__.py`` is the model: the contract is stated here, the
gpiozero adapter (:mod:`alo_edge.panel.gpio`) implements it, and the controller
knows nothing else. Everything the controller calls is declared below.
"""

from __future__ import annotations

import asyncio
from typing import Protocol

from alo_edge.panel.actions import ButtonEdge
from alo_edge.panel.patterns import Colour, LedPattern


class PanelHardware(Protocol):
    """The LEDs and the button of one panel, claimed while the object lives."""

    @property
    def virtual(self) -> bool:
        """True when nobody can see these LEDs (mock pins): changes are then logged at INFO."""
        ...

    @property
    def leds(self) -> frozenset[str]:
        """Which LEDs are fitted: any of ``"status"``, ``"rgb"``, ``"mic"``."""
        ...

    @property
    def has_button(self) -> bool:
        """True when a button is fitted."""
        ...

    @property
    def button_edges(self) -> asyncio.Queue[ButtonEdge]:
        """The button's edges, bridged into the event loop, oldest first (after start())."""
        ...

    async def start(self) -> None:
        """Capture the running loop and start delivering button edges."""
        ...

    def show(self, pattern: LedPattern, colour: Colour) -> None:
        """Show ``pattern`` on the status LED and ``colour`` on the RGB LED from now on."""
        ...

    def set_mic(self, lit: bool) -> None:
        """Light or darken the mic-live LED."""
        ...

    async def stop(self) -> None:
        """End the pattern player and turn every LED off (the pins stay claimed)."""
        ...

    def close(self) -> None:
        """Release every pin (and the pin factory, when this object opened it)."""
        ...
