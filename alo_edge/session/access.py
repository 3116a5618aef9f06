"""The device's credential: where the token lives, reading it, and its expiry.

The token is read again on every attempt (ACQUIRING_ACCESS), so a token rotated on
disk (or through a systemd credential) heals a device that was refused. An expired
JWT is reported before any request is sent: there is no point in asking a server to
refuse it. The exchange with the access endpoint is the transport layer's
(:mod:`alo_edge.transport.access`). Nothing here imports the WebRTC stack, so the
CLI's ``config`` and ``check`` can use it.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path

from alo_edge.bearer import jwt_expiry
from alo_edge.config import Config
from alo_edge.errors import AuthError

logger = logging.getLogger(__name__)

#: The name of the token under systemd's ``LoadCredential=alo-token:/etc/alo-edge/token``.
CREDENTIAL_NAME = "alo-token"
#: The client secret (``alo.token_url``) under
#: ``LoadCredential=alo-client-secret:/etc/alo-edge/client-secret``.
CLIENT_SECRET_CREDENTIAL = "alo-client-secret"
#: Where the unit loads each credential from (its ``LoadCredential=`` lines).
CREDENTIAL_SOURCES = {
    CREDENTIAL_NAME: "/etc/alo-edge/token",
    CLIENT_SECRET_CREDENTIAL: "/etc/alo-edge/client-secret",
}
MAX_TOKEN_BYTES = 16 * 1024
#: What alo-edge.service's ProtectHome=yes hides from the service.
HIDDEN_BY_PROTECT_HOME = (Path("/home"), Path("/root"), Path("/run/user"))


def _environ(environ: Mapping[str, str] | None) -> Mapping[str, str]:
    return os.environ if environ is None else environ


def _credential(name: str, environ: Mapping[str, str]) -> Path | None:
    directory = environ.get("CREDENTIALS_DIRECTORY")
    return Path(directory) / name if directory else None


def token_path(config: Config, environ: Mapping[str, str] | None = None) -> Path:
    """Where the token lives: ``alo.token_file``, else the systemd credential directory."""
    if config.alo.token_file:
        return Path(config.alo.token_file)
    credential = _credential(CREDENTIAL_NAME, _environ(environ))
    if credential is not None:
        return credential
    raise AuthError(
        "no token configured: set alo.token_file, or pass it as the systemd credential "
        f"{CREDENTIAL_NAME!r} (LoadCredential={CREDENTIAL_NAME}:/etc/alo-edge/token), "
        "or fetch tokens with alo.token_url"
    )


def client_secret_path(config: Config, environ: Mapping[str, str] | None = None) -> Path:
    """Where the client secret lives: ``alo.client_secret_file``, else the systemd credential."""
    if config.alo.client_secret_file:
        return Path(config.alo.client_secret_file)
    credential = _credential(CLIENT_SECRET_CREDENTIAL, _environ(environ))
    if credential is not None:
        return credential
    raise AuthError(
        "no client secret configured: set alo.client_secret_file, or pass it as the systemd "
        f"credential {CLIENT_SECRET_CREDENTIAL!r} "
        f"(LoadCredential={CLIENT_SECRET_CREDENTIAL}:/etc/alo-edge/client-secret)"
    )


def read_token(path: Path, environ: Mapping[str, str] | None = None) -> str:
    """Read the token file, stripped of whitespace around it; AuthError naming what is wrong.

    A missing, unreadable, empty or binary file, a file holding more than the token on one
    line, or characters no bearer token has: each is a one-line AuthError that names the
    file and never quotes its content.
    """
    token = _read_secret_file(path, "token file", CREDENTIAL_NAME, _environ(environ))
    if any(not 0x21 <= ord(c) <= 0x7E for c in token):
        raise AuthError(
            f"token file {path} holds a character no bearer token has (a space or a control "
            "character): it must hold the token alone"
        )
    return token


def read_client_secret(path: Path, environ: Mapping[str, str] | None = None) -> str:
    """Read the client secret (``alo.token_url``), with the same checks as the token file."""
    return _read_secret_file(
        path, "client secret file", CLIENT_SECRET_CREDENTIAL, _environ(environ)
    )


def _read_secret_file(path: Path, what: str, credential: str, environ: Mapping[str, str]) -> str:
    try:
        with path.open("rb") as file:
            raw = file.read(MAX_TOKEN_BYTES + 1)
    except (FileNotFoundError, PermissionError) as exc:
        hidden = _hidden_from_the_service(path, environ)
        if hidden is not None:
            raise AuthError(f"{what} {path} {hidden}") from None
        if isinstance(exc, FileNotFoundError):
            raise AuthError(f"{what} {path} does not exist") from None
        raise AuthError(f"{what} {path} cannot be read: {exc.strerror}") from None
    except OSError as exc:
        raise AuthError(f"{what} {path} cannot be read: {exc.strerror}") from None
    if len(raw) > MAX_TOKEN_BYTES:
        raise AuthError(f"{what} {path} is larger than {MAX_TOKEN_BYTES} bytes")
    try:
        text = raw.decode("ascii").strip()
    except UnicodeDecodeError:
        raise AuthError(f"{what} {path} does not hold a text token") from None
    if not text:
        if _credential(credential, environ) == path:
            source = CREDENTIAL_SOURCES[credential]
            raise AuthError(
                f"the systemd credential {credential!r} is empty: {source} was missing when "
                f"the service started; put it there (root, 0600), then "
                "'systemctl restart alo-edge'"
            )
        raise AuthError(f"{what} {path} is empty")
    lines = len(text.splitlines())
    if lines > 1:
        raise AuthError(
            f"{what} {path} holds {lines} lines: it must hold only the token, on one line"
        )
    return text


def _hidden_from_the_service(path: Path, environ: Mapping[str, str]) -> str | None:
    """Why a file under /home, /root or /run/user cannot be seen by alo-edge.service."""
    if "INVOCATION_ID" not in environ:  # systemd sets it for every service it starts
        return None
    absolute = Path(os.path.abspath(path))
    if not any(absolute.is_relative_to(hidden) for hidden in HIDDEN_BY_PROTECT_HOME):
        return None
    return (
        "cannot be seen by the service: alo-edge.service runs with ProtectHome=yes, which "
        "hides /home, /root and /run/user; put it in /etc/alo-edge (root, 0600) for the "
        "unit to pass as a credential, or somewhere outside those directories"
    )


def check_not_expired(token: str, now: float) -> None:
    """Raise AuthError naming the expiry time when the JWT has expired at ``now`` (epoch s)."""
    exp = jwt_expiry(token)
    if exp is not None and exp <= now:
        when = datetime.fromtimestamp(exp, UTC).isoformat(timespec="seconds")
        raise AuthError(f"token expired at {when}; put a fresh token in place, it is re-read")
