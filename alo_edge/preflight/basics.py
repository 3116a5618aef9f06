"""The panel's pre-flight: the GPIO backend loads and every configured pin can be claimed."""

from __future__ import annotations

from alo_edge.config import Config
from alo_edge.errors import ExitCode, HardwareError
from alo_edge.preflight.base import Finding, Verdict


class GpioCheck:
    """The pin factory loads and every configured pin can be claimed (then released).

    A factory that does not load or a pin that is taken fails with exit code 69 (the
    message names the problem and the fix).
    """

    name = "gpio"

    def run(self, config: Config) -> list[Finding]:
        if not config.gpio.enabled:
            return [Finding(self.name, Verdict.SKIP, "disabled (gpio.enabled = false)")]
        from alo_edge.panel.gpio import check_panel_pins

        try:
            backend, pins = check_panel_pins(config.gpio)
        except HardwareError as exc:
            return [Finding(self.name, Verdict.FAIL, str(exc), exit_code=ExitCode.HARDWARE)]
        findings = [Finding("gpio backend", Verdict.OK, backend)]
        findings += [Finding(f"gpio {role}", Verdict.OK, where) for role, where in pins]
        findings.append(Finding(self.name, Verdict.OK, "ok (every pin claimed and released)"))
        return findings
