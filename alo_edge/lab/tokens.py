"""HS256 user tokens, minted and checked the way ALO's auth service does.

Pure functions: the current time is always passed in, so tests never sleep and a
restarted lab (same secret) keeps accepting the tokens it minted before.
"""

from __future__ import annotations

import datetime
from typing import Any

import jwt

ALGORITHM = "HS256"
DEFAULT_ISSUER = "alo-lab"

# RFC 7518 section 3.2: an HS256 key shorter than the hash output is weak, and
# PyJWT warns about it on every call; refuse it once, clearly, instead.
MIN_SECRET_BYTES = 32


class LabAuthError(Exception):
    """A token is missing, malformed, wrongly signed or expired; the message says which."""


def iso_utc(timestamp: float) -> str:
    """``timestamp`` (Unix seconds) as ``2024-05-01T12:00:00Z``."""
    moment = datetime.datetime.fromtimestamp(timestamp, tz=datetime.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def expiry_time(now: float, ttl_minutes: float) -> int:
    """The ``exp`` claim of a token minted at ``now`` living ``ttl_minutes``."""
    if not ttl_minutes > 0:
        raise ValueError(f"ttl_minutes must be positive, got {ttl_minutes!r}")
    return int(now + ttl_minutes * 60)


def _check_secret(secret: str) -> bytes:
    key = secret.encode()
    if len(key) < MIN_SECRET_BYTES:
        raise ValueError(f"the signing secret must be at least {MIN_SECRET_BYTES} bytes")
    return key


def mint_token(
    secret: str,
    user_id: str,
    ttl_minutes: float,
    now: float,
    issuer: str = DEFAULT_ISSUER,
) -> str:
    """An HS256 JWT for ``user_id`` (claims ``sub``, ``iat``, ``exp``, ``iss``)."""
    if not user_id:
        raise ValueError("user_id must not be empty")
    claims = {
        "sub": user_id,
        "iat": int(now),
        "exp": expiry_time(now, ttl_minutes),
        "iss": issuer,
    }
    return jwt.encode(claims, _check_secret(secret), algorithm=ALGORITHM)


def verify_token(
    secret: str,
    token: str | None,
    now: float,
    issuer: str = DEFAULT_ISSUER,
) -> dict[str, Any]:
    """The claims of ``token`` if it was signed with ``secret`` and is valid at ``now``.

    Raises :class:`LabAuthError` saying what is wrong: missing, malformed, bad
    signature, wrong issuer or expired (naming when, in UTC).
    """
    if not token:
        raise LabAuthError("missing token")
    key = _check_secret(secret)
    try:
        # PyJWT would compare exp/iat with the wall clock; ``now`` is ours to inject.
        claims: dict[str, Any] = jwt.decode(
            token,
            key,
            algorithms=[ALGORITHM],
            issuer=issuer,
            options={
                "verify_exp": False,
                "verify_iat": False,
                "verify_nbf": False,
                "require": ["sub", "exp", "iss"],
            },
        )
    except jwt.InvalidSignatureError:
        raise LabAuthError("bad token signature") from None
    except jwt.InvalidIssuerError:
        raise LabAuthError(f"token not issued by {issuer!r}") from None
    except jwt.MissingRequiredClaimError as error:
        raise LabAuthError(f"malformed token: missing the {error.claim!r} claim") from None
    except jwt.InvalidTokenError as error:
        raise LabAuthError(f"malformed token: {error}") from None
    exp = claims["exp"]
    if isinstance(exp, bool) or not isinstance(exp, int | float):
        raise LabAuthError("malformed token: 'exp' is not a number")
    if not isinstance(claims["sub"], str) or not claims["sub"]:
        raise LabAuthError("malformed token: 'sub' is not a non-empty string")
    if now >= exp:
        raise LabAuthError(f"token expired at {iso_utc(exp)}")
    return claims
