"""Config value types: each one owns its parsing, validation and rendering.

mopidy's ``config/types.py`` is the model: a value that has a shape (``HOST:PORT``)
is parsed once, by its type, into something the code can use (``listen.port``), and
an error names the key and what was expected. The loader calls :meth:`parse` for any
field whose type has it; ``alo-edge config`` prints :meth:`render`.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Any, ClassVar

from alo_edge.errors import ConfigError


@dataclass(frozen=True)
class Listen:
    """Where a local server listens: ``HOST:PORT``, or ``""`` for not at all.

    IPv6 hosts are written in brackets (``[::1]:8787``); ``host`` holds them without.
    """

    host: str = ""
    port: int = 0

    EXAMPLE: ClassVar[str] = "127.0.0.1:8787"

    @classmethod
    def parse(cls, raw: Any, key: str, *, allow_off: bool = True) -> Listen:
        """``"HOST:PORT"`` (or ``""`` when ``allow_off``) -> Listen; ConfigError naming ``key``."""
        off = " or '' to turn it off" if allow_off else ""
        expected = f"expected HOST:PORT (e.g. '{cls.EXAMPLE}'){off}"
        if not isinstance(raw, str):
            raise ConfigError(f"{expected}, got {raw!r}", key=key)
        if raw == "" and allow_off:
            return cls()
        host, _, port = raw.strip().rpartition(":")
        if not host or not port.isascii() or not port.isdigit() or int(port) > 65535:
            raise ConfigError(f"{expected}, got {raw!r}", key=key)
        return cls(host.strip("[]"), int(port))

    @property
    def enabled(self) -> bool:
        """False for the empty value: the server is turned off."""
        return bool(self.host)

    @property
    def loopback(self) -> bool:
        """True when only this machine can connect (``127.0.0.0/8``, ``::1``, ``localhost``).

        A host name other than ``localhost`` counts as beyond loopback: what it resolves
        to is not known here, and a server without auth must err towards a warning.
        """
        if self.host == "localhost":
            return True
        try:
            return ipaddress.ip_address(self.host).is_loopback
        except ValueError:
            return False

    def __str__(self) -> str:
        if not self.enabled:
            return ""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    def render(self) -> str:
        """The value as a TOML string."""
        return f'"{self}"'
