"""The panel: status LEDs and a button on the GPIO header (gpiozero).

``patterns`` is the pure state -> LED table, ``gpio`` the hardware adapter,
``actions`` the button gestures and their commands, ``controller`` the
:class:`Panel` that ties them to a session.
"""

from __future__ import annotations

from alo_edge.panel.controller import PANEL_LED_EVENT, Panel, led_line

__all__ = ["PANEL_LED_EVENT", "Panel", "led_line"]
