"""Whether the status endpoint (no auth) is reachable from beyond this machine."""

from __future__ import annotations

from alo_edge.config import Config
from alo_edge.preflight.base import Finding, Verdict


class StatusExposureCheck:
    """``status.listen`` on loopback is fine; beyond it, anyone who reaches it reads /status."""

    name = "status"

    def run(self, config: Config) -> list[Finding]:
        listen = config.status.listen
        if not listen.enabled:
            return [Finding(self.name, Verdict.SKIP, 'off (status.listen = "")')]
        if listen.loopback:
            return [Finding(self.name, Verdict.OK, f"{listen} (this machine only)")]
        return [
            Finding(
                self.name,
                Verdict.WARN,
                f"{listen} is beyond loopback: /status and /metrics have no auth",
                fix=f'status.listen = "127.0.0.1:{listen.port}", unless the network is trusted',
            )
        ]
