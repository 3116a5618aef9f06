"""alo-edge: the ALO video endpoint for headless Raspberry Pi devices.

The public face mirrors ALO's browser Video SDK (``AloVideo``, ``VideoUser``,
``onConnectionChange`` ...) with Python naming. Names are exported lazily (PEP 562):
``from alo_edge import AloVideo`` imports the WebRTC stack, while the CLI's light
commands (``--help``, ``config``, ``status``) and ``alo_edge.errors`` never do.
"""

from __future__ import annotations

import importlib
import logging
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
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

#: Public name -> the module that defines it.
_EXPORTS = {
    "AloVideo": "alo_edge.api",
    "VideoChannel": "alo_edge.api",
    "VideoUser": "alo_edge.api",
    "AloEdgeError": "alo_edge.errors",
    "AuthError": "alo_edge.errors",
    "ConfigError": "alo_edge.errors",
    "HardwareError": "alo_edge.errors",
    "SignallingError": "alo_edge.errors",
    "TransportError": "alo_edge.errors",
    "Event": "alo_edge.events",
    "EventTarget": "alo_edge.events",
}

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


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'alo_edge' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later lookups are plain attribute reads
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_EXPORTS})


# A library never prints by default; the service configures logging in system/journal.py.
logging.getLogger(__name__).addHandler(logging.NullHandler())
