"""alo-edge: the ALO video endpoint for headless Raspberry Pi devices.

The public face mirrors ALO's browser Video SDK (``AloVideo``, ``VideoUser``,
``onConnectionChange`` ...) with Python naming.
"""

from __future__ import annotations

import logging

__version__ = "0.1.0"

from alo_edge.api import AloVideo, VideoChannel, VideoUser
from alo_edge.errors import (
    AloEdgeError,
    AuthError,
    ConfigError,
    HardwareError,
    SignallingError,
    TransportError,
)
from alo_edge.events import Event, EventTarget

__all__ = [
    "AloEdgeError",
    "AloVideo",
    "AuthError",
    "ConfigError",
    "Event",
    "EventTarget",
    "HardwareError",
    "SignallingError",
    "TransportError",
    "VideoChannel",
    "VideoUser",
    "__version__",
]

# A library never prints by default; the service configures logging in system/journal.py.
logging.getLogger(__name__).addHandler(logging.NullHandler())
