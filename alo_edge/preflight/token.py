"""The token pre-flight: found, readable, a JWT, for this user, not expired, not about to.

The verdicts are the device's own view: it re-reads the token on every attempt and
never sends a JWT that its own clock says has expired, so an expired token stops the
device even if a server with a different clock would still take it. Only the server
can verify a signature; the endpoint check asks it. The token itself is never printed:
only where it came from, its length and its claims' dates and user.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from alo_edge.bearer import jwt_claims
from alo_edge.config import Config
from alo_edge.errors import AuthError
from alo_edge.preflight.base import Finding, Verdict
from alo_edge.session.access import (
    CREDENTIAL_NAME,
    client_secret_path,
    read_client_secret,
    read_token,
    token_path,
)

#: Where the installed unit loads the ``alo-token`` credential from
#: (``LoadCredential=alo-token:/etc/alo-edge/token`` in systemd/alo-edge.service). A
#: technician runs ``check`` in a shell, outside the unit, where no credential
#: directory exists: the token is then read at its source.
UNIT_CREDENTIAL_FILE = Path("/etc/alo-edge/token")
#: A token expiring sooner than this is a warning: replace it before the night shift.
EXPIRY_WARNING_SECONDS = 24 * 3600
#: Claims dated further than this in this device's future mean its clock is behind.
CLOCK_TOLERANCE_SECONDS = 300
RESTART_HINT = "then `sudo systemctl restart alo-edge` (systemd copies the credential at start)"


class TokenCheck:
    """Where the token comes from and whether the device would use it; never the token."""

    name = "token"

    def __init__(
        self,
        *,
        wall_clock: Callable[[], float] = time.time,
        environ: Mapping[str, str] | None = None,
        unit_credential: Path = UNIT_CREDENTIAL_FILE,
    ) -> None:
        self._wall_clock = wall_clock
        self._environ = environ
        self._unit_credential = unit_credential

    def run(self, config: Config) -> list[Finding]:
        environ = os.environ if self._environ is None else self._environ
        return token_findings(config, self._wall_clock(), environ, self._unit_credential)


def token_findings(
    config: Config, now: float, environ: Mapping[str, str], unit_credential: Path
) -> list[Finding]:
    """The token's findings at wall-clock time ``now`` (epoch seconds)."""
    if config.alo.token_url:
        return [_client_secret_finding(config)]
    try:
        path, credential = token_source(config, environ, unit_credential)
    except AuthError as exc:
        return [Finding("token", Verdict.FAIL, str(exc), fix=_NO_TOKEN_FIX)]
    fix = f"put the device's token in {path} (mode 0600)" + (
        f", {RESTART_HINT}" if credential else ""
    )
    try:
        token = read_token(path)
    except AuthError as exc:
        denied = path.is_file() and not os.access(path, os.R_OK)
        hint = "run the check as root (sudo) or as the service's user" if denied else fix
        return [Finding("token", Verdict.FAIL, str(exc), fix=hint)]
    try:
        claims = jwt_claims(token)
    except AuthError as exc:
        return [Finding("token", Verdict.FAIL, f"{exc} ({path})", fix=fix)]
    if claims is None:
        return [_opaque(config, path, len(token), fix)]
    return _jwt_findings(config, path, claims, now, fix)


def _client_secret_finding(config: Config) -> Finding:
    """With ``alo.token_url`` the device fetches its tokens at run time: the client secret
    is what must be in place (this check stays offline; the endpoint check asks servers)."""
    alo = config.alo
    try:
        path = client_secret_path(config)
        secret = read_client_secret(path)
    except AuthError as exc:
        return Finding(
            "token",
            Verdict.FAIL,
            f"unusable: {exc}",
            fix="put the client secret the operator issued in alo.client_secret_file or "
            "/etc/alo-edge/client-secret (mode 0600)",
        )
    return Finding(
        "token",
        Verdict.OK,
        f"fetched from {alo.token_url} as client {alo.client_id!r} with the secret from "
        f"{path} (value masked, {len(secret)} characters), renewed before expiry",
    )


_NO_TOKEN_FIX = (
    f"set alo.token_file, or put the token in {UNIT_CREDENTIAL_FILE} (mode 0600) for the "
    f"unit's {CREDENTIAL_NAME!r} credential"
)


def token_source(
    config: Config, environ: Mapping[str, str], unit_credential: Path
) -> tuple[Path, bool]:
    """``(path, is a systemd credential)``: the config's file, the credential, or its source.

    AuthError when none is configured and the unit's credential file does not exist.
    """
    if config.alo.token_file or environ.get("CREDENTIALS_DIRECTORY"):
        return token_path(config, environ), not config.alo.token_file
    if unit_credential.exists():
        return unit_credential, True
    return token_path(config, environ), False  # raises: no token configured


def _opaque(config: Config, path: Path, length: int, fix: str) -> Finding:
    what = f"not a JWT ({length} characters in {path})"
    if config.alo.access_url:
        return Finding(
            "token",
            Verdict.FAIL,
            f"{what}: ALO's access endpoint takes the JWT its auth service issues",
            fix=f"{fix}: the JWT ALO (or `alo-edge token` for a lab) issued for this device",
        )
    # A WHIP server may well take a static bearer (simple-whip-server does).
    return Finding(
        "token", Verdict.WARN, f"{what}: an opaque bearer, whose expiry cannot be known here"
    )


def _jwt_findings(
    config: Config, path: Path, claims: dict[str, Any], now: float, fix: str
) -> list[Finding]:
    subject = claims.get("sub")
    user = f" for user {subject}" if isinstance(subject, str) and subject else ""
    findings: list[Finding] = []
    exp = _number(claims.get("exp"))
    if "exp" in claims and exp is None:
        return [Finding("token", Verdict.FAIL, f"a JWT whose 'exp' is not a number ({path})", fix)]
    if exp is None:
        findings.append(Finding("token", Verdict.OK, f"a JWT{user} from {path}, no expiry"))
    elif exp <= now:
        message = f"expired at {_iso(exp)} ({_span(now - exp)} ago), a JWT{user} from {path}"
        findings.append(Finding("token", Verdict.FAIL, message, fix=fix))
    elif exp - now < EXPIRY_WARNING_SECONDS:
        message = f"expires at {_iso(exp)} (in {_span(exp - now)}), a JWT{user} from {path}"
        findings.append(Finding("token", Verdict.WARN, message, fix=f"before then, {fix}"))
    else:
        message = f"a JWT{user} from {path}, expires at {_iso(exp)} (in {_span(exp - now)})"
        findings.append(Finding("token", Verdict.OK, message))
    if user and config.alo.access_url and subject != config.device.user_id:
        findings.append(
            Finding(
                "token",
                Verdict.WARN,
                f"issued for user {subject}, but device.user_id is {config.device.user_id}: "
                "an access endpoint refuses a token for another user",
                fix=f"{fix}, or set device.user_id = {subject!r}",
            )
        )
    findings += _clock_findings(claims, now)
    return findings


def _clock_findings(claims: dict[str, Any], now: float) -> list[Finding]:
    """A claim dated in this device's future says its clock is behind the issuer's."""
    for claim, meaning in (("iat", "issued"), ("nbf", "valid from")):
        when = _number(claims.get(claim))
        if when is not None and when - now > CLOCK_TOLERANCE_SECONDS:
            return [
                Finding(
                    "clock",
                    Verdict.WARN,
                    f"the token says {meaning} {_iso(when)}, {_span(when - now)} after this "
                    f"device's time ({_iso(now)}): is the clock behind?",
                    fix="synchronize the clock (`timedatectl status`: NTP on, synchronized)",
                )
            ]
    return []


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="seconds")


def _span(seconds: float) -> str:
    """A duration for a person: ``3 d 4 h``, ``5 h 12 min``, ``7 min``, ``40 s``."""
    seconds = int(abs(seconds))
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days} d {hours} h"
    if hours:
        return f"{hours} h {minutes} min"
    if minutes:
        return f"{minutes} min"
    return f"{secs} s"
