"""Configuration: TOML -> frozen dataclasses, validated key by key.

Layers: the package defaults, then the TOML file. Every error names the key path
and what was expected (and the closest valid key for a typo), so a person reading
``journalctl`` knows what to fix. The token itself is never part of the config,
only where to read it from.

- :mod:`.sections`: the dataclasses (one per TOML table) and each key's rules;
- :mod:`.types`: value types that parse themselves (``Listen``);
- :mod:`.loader`: TOML -> sections; :mod:`.rules`: rules across keys;
- :mod:`.render`: the effective config printed back, secrets masked.
"""

from __future__ import annotations

from alo_edge.config.loader import config_from_dict, load_config
from alo_edge.config.render import render_config
from alo_edge.config.rules import ICE_URL_SCHEMES, ice_url_problem
from alo_edge.config.sections import (
    PANEL_ACTIONS,
    AloConfig,
    AudioConfig,
    Config,
    DeviceConfig,
    GpioConfig,
    IceServerConfig,
    LogConfig,
    NetworkConfig,
    ReconnectConfig,
    StatusConfig,
    VideoConfig,
)
from alo_edge.config.types import Listen
from alo_edge.errors import ConfigError

__all__ = [
    "ICE_URL_SCHEMES",
    "PANEL_ACTIONS",
    "AloConfig",
    "AudioConfig",
    "Config",
    "ConfigError",
    "DeviceConfig",
    "GpioConfig",
    "IceServerConfig",
    "Listen",
    "LogConfig",
    "NetworkConfig",
    "ReconnectConfig",
    "StatusConfig",
    "VideoConfig",
    "config_from_dict",
    "ice_url_problem",
    "load_config",
    "render_config",
]
