"""The device's credential: where the token lives, reading it, and its expiry.

The token is read again on every attempt (ACQUIRING_ACCESS), so a token rotated on
disk (or through a systemd credential) heals a device that was refused. An expired
JWT is reported before any request is sent: there is no point in asking a server to
refuse it. The exchange with the access endpoint is the transport layer's
(:mod:`alo_edge.transport.access`). Nothing here imports the WebRTC stack, so the
CLI's ``config`` and ``check`` can use it.
"""

from __future__ import annotations

import base64
import json
import logging
import os
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from alo_edge.config import Config
from alo_edge.errors import AuthError

logger = logging.getLogger(__name__)

#: The name of the token under systemd's ``LoadCredential=alo-token:/etc/alo-edge/token``.
CREDENTIAL_NAME = "alo-token"
MAX_TOKEN_BYTES = 16 * 1024


def token_path(config: Config, environ: Mapping[str, str] | None = None) -> Path:
    """Where the token lives: ``alo.token_file``, else the systemd credential directory."""
    if config.alo.token_file:
        return Path(config.alo.token_file)
    credentials = (os.environ if environ is None else environ).get("CREDENTIALS_DIRECTORY")
    if credentials:
        return Path(credentials) / CREDENTIAL_NAME
    raise AuthError(
        "no token configured: set alo.token_file, or pass it as the systemd credential "
        f"{CREDENTIAL_NAME!r} (LoadCredential={CREDENTIAL_NAME}:/etc/alo-edge/token)"
    )


def read_token(path: Path) -> str:
    """Read the token file, stripped of whitespace; a missing or empty file is an AuthError."""
    try:
        with path.open("rb") as file:
            raw = file.read(MAX_TOKEN_BYTES + 1)
    except FileNotFoundError:
        raise AuthError(f"token file {path} does not exist") from None
    except OSError as exc:
        raise AuthError(f"token file {path} cannot be read: {exc.strerror}") from None
    if len(raw) > MAX_TOKEN_BYTES:
        raise AuthError(f"token file {path} is larger than {MAX_TOKEN_BYTES} bytes")
    try:
        token = raw.decode("ascii").strip()
    except UnicodeDecodeError:
        raise AuthError(f"token file {path} does not hold a text token") from None
    if not token:
        raise AuthError(f"token file {path} is empty")
    return token


def jwt_claims(token: str) -> dict[str, Any] | None:
    """The claims of a JWT, without verifying them (only the server can); None when
    ``token`` is not a JWT (three dot-separated parts) but an opaque bearer.

    A token shaped like a JWT whose claims do not decode to a JSON object is an AuthError.
    """
    parts = token.split(".")
    if len(parts) != 3:
        return None
    try:
        padded = parts[1] + "=" * (-len(parts[1]) % 4)
        claims = json.loads(base64.urlsafe_b64decode(padded))
    except (ValueError, json.JSONDecodeError):
        raise AuthError("token looks like a JWT but its claims cannot be decoded") from None
    if not isinstance(claims, dict):
        raise AuthError("token looks like a JWT but its claims are not a JSON object")
    return claims


def jwt_expiry(token: str) -> float | None:
    """The ``exp`` claim of a JWT, without verifying it (only the server can); None if absent.

    Opaque (non-JWT) tokens have no expiry we could know, so they yield None too.
    """
    claims = jwt_claims(token)
    exp = None if claims is None else claims.get("exp")
    if exp is None:
        return None
    if isinstance(exp, bool) or not isinstance(exp, int | float):
        raise AuthError("token's 'exp' claim is not a number")
    return float(exp)


def check_not_expired(token: str, now: float) -> None:
    """Raise AuthError naming the expiry time when the JWT has expired at ``now`` (epoch s)."""
    exp = jwt_expiry(token)
    if exp is not None and exp <= now:
        when = datetime.fromtimestamp(exp, UTC).isoformat(timespec="seconds")
        raise AuthError(f"token expired at {when}; put a fresh token in place, it is re-read")
