"""Pre-flight checks (``alo-edge check``): the contract in :mod:`.base`, the checks beside it.

A new check is a class with ``name`` and ``run(config)`` in its own module, added to
:func:`default_checks` in the order a technician reads the output. Checks run one after
another and may block: the network checks use the standard library's blocking client,
and only the checks that open media import the media stack and start an event loop, so
the ones before them run without either (``alo-edge check`` starts in a fraction of the
time).
"""

from __future__ import annotations

from alo_edge.config import Config
from alo_edge.preflight.base import Finding, PreflightCheck, Verdict


def default_checks() -> list[PreflightCheck]:
    """Every check ``alo-edge check`` runs, in order."""
    # Imported here: `alo-edge config` uses the token check alone, without the others.
    from alo_edge.preflight.basics import GpioCheck
    from alo_edge.preflight.endpoint import EndpointCheck
    from alo_edge.preflight.media import CameraCheck, MicrophoneCheck, SpeakerCheck
    from alo_edge.preflight.os_settings import (
        JournalCheck,
        TimeSyncCheck,
        WatchdogCheck,
        WifiPowerSaveCheck,
    )
    from alo_edge.preflight.status_exposure import StatusExposureCheck
    from alo_edge.preflight.token import TokenCheck

    return [
        TokenCheck(),
        EndpointCheck(),
        CameraCheck(),
        MicrophoneCheck(),
        SpeakerCheck(),
        GpioCheck(),
        # The OS settings a field Pi needs (scripts/install-on-pi sets them).
        WatchdogCheck(),
        WifiPowerSaveCheck(),
        JournalCheck(),
        TimeSyncCheck(),
        StatusExposureCheck(),
    ]


def run_checks(config: Config, checks: list[PreflightCheck]) -> list[Finding]:
    """Run ``checks`` in order and collect what they found."""
    findings: list[Finding] = []
    for check in checks:
        findings += check.run(config)
    return findings


__all__ = ["Finding", "PreflightCheck", "Verdict", "default_checks", "run_checks"]
