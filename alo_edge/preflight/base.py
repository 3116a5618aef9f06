"""The pre-flight contract: checks that say, one line each, whether a device will work.

``alo-edge check`` runs every :class:`PreflightCheck` in order and prints each
:class:`Finding` as ``<check>: <message>`` (and its fix). A check reads what it needs
(the config, files, the network, devices) and never changes anything a running
service uses: it is safe on a live device.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol

from alo_edge.config import Config
from alo_edge.errors import ExitCode


class Verdict(StrEnum):
    """How a finding bears on the device working."""

    #: Fine, or a fact worth printing (the backend in use, a pin assignment).
    OK = "ok"
    #: Works today, needs attention soon (a token expiring within a day ...).
    WARN = "warn"
    #: The device will not work like this.
    FAIL = "fail"
    #: Not applicable to this configuration (GPIO disabled ...).
    SKIP = "skip"


@dataclass(frozen=True)
class Finding:
    """One line of ``alo-edge check``: what was checked, the verdict, and the fix."""

    check: str
    verdict: Verdict
    message: str
    fix: str | None = None
    #: What ``alo-edge check`` exits with when this finding fails: HARDWARE (69) for a
    #: camera, microphone, speaker or pin, CONFIG (78) for the config file, FAILURE (1)
    #: for the rest (a token, a server out of reach).
    exit_code: ExitCode = ExitCode.FAILURE

    def line(self) -> str:
        """The line for a person: ``<check>: <message>`` (``; fix: ...`` when there is one)."""
        text = f"{self.check}: {self.message}"
        return text if self.fix is None else f"{text}; fix: {self.fix}"

    def to_dict(self) -> dict[str, Any]:
        """The finding for ``--json``."""
        return {
            "check": self.check,
            "verdict": self.verdict.value,
            "message": self.message,
            "fix": self.fix,
            "exitCode": int(self.exit_code) if self.verdict is Verdict.FAIL else 0,
        }


class PreflightCheck(Protocol):
    """One pre-flight check (config, token, GPIO ...)."""

    @property
    def name(self) -> str:
        """A short name (``token``, ``gpio``): the first word of its lines."""
        ...

    def run(self, config: Config) -> list[Finding]:
        """Check and return what was found, in the order a person should read it.

        May block (a check runs in the CLI, one at a time, each with its own timeouts);
        a check that needs an event loop (the media devices) runs its own.
        """
        ...
