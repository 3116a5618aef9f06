"""What a device may read from a bearer token without verifying it (only the server can).

A JWT's claims (``exp``, ``sub``) are read to avoid sending a token the device's own
clock says has expired, and to report it; an opaque bearer yields nothing. The session,
the transports and ``alo-edge check`` all read tokens here, so this module depends on
nothing but the error tree.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from alo_edge.errors import AuthError


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


def expired(token: str, now: float) -> bool:
    """True when ``token`` is a JWT whose ``exp`` is at or before ``now`` (epoch seconds).

    An opaque bearer, or a JWT whose claims cannot be read, is not known to be expired.
    """
    try:
        exp = jwt_expiry(token)
    except AuthError:
        return False
    return exp is not None and exp <= now
