"""The pre-flight checks every device gets: the token and the panel's pins."""

from __future__ import annotations

from datetime import UTC, datetime

from alo_edge.config import Config
from alo_edge.errors import AloEdgeError
from alo_edge.preflight.base import Finding, Verdict
from alo_edge.session.access import (
    client_secret_path,
    jwt_expiry,
    read_client_secret,
    read_token,
    token_path,
)


class TokenCheck:
    """Where the token comes from and whether it is usable; never the token itself.

    With ``alo.token_url`` the client secret is checked instead (tokens are fetched at run
    time: this check stays offline, as ``alo-edge config`` runs it on a bench).
    """

    name = "token"

    async def run(self, config: Config) -> list[Finding]:
        alo = config.alo
        if alo.token_url:
            try:
                path = client_secret_path(config)
                secret = read_client_secret(path)
            except AloEdgeError as exc:
                return [Finding(self.name, Verdict.FAIL, f"unusable: {exc}")]
            message = (
                f"fetched from {alo.token_url} as client {alo.client_id!r} with the secret "
                f"from {path} (value masked, {len(secret)} characters), renewed before expiry"
            )
            return [Finding(self.name, Verdict.OK, message)]
        try:
            path = token_path(config)
            token = read_token(path)
            expiry = jwt_expiry(token)
        except AloEdgeError as exc:
            return [Finding(self.name, Verdict.FAIL, f"unusable: {exc}")]
        when = "no expiry" if expiry is None else f"expires {_iso(expiry)}"
        message = f"from {path} (value masked, {len(token)} characters, {when})"
        return [Finding(self.name, Verdict.OK, message)]


class GpioCheck:
    """The pin factory loads and every configured pin can be claimed (then released).

    A factory that does not load or a pin that is taken raises HardwareError (exit 69).
    """

    name = "gpio"

    async def run(self, config: Config) -> list[Finding]:
        from alo_edge.panel.gpio import check_panel_pins

        if not config.gpio.enabled:
            return [Finding(self.name, Verdict.SKIP, "disabled (gpio.enabled = false)")]
        backend, pins = check_panel_pins(config.gpio)
        findings = [Finding("gpio backend", Verdict.OK, backend)]
        findings += [Finding(f"gpio {role}", Verdict.OK, where) for role, where in pins]
        findings.append(Finding(self.name, Verdict.OK, "ok (every pin claimed and released)"))
        return findings


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="seconds")
