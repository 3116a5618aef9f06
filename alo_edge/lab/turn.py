"""Short-lived TURN credentials for the lab's access answers (the "TURN REST API").

A TURN server configured with a shared secret (coturn: ``use-auth-secret``,
``static-auth-secret``) accepts any username of the form ``<expiry>:<user>`` whose
password is ``base64(HMAC-SHA1(secret, username))`` until the expiry (epoch seconds)
has passed (draft-uberti-behave-turn-rest-00). The lab hands a device such
credentials in each access answer's ``iceServers``, as a production access service
would: nothing long-lived about TURN is stored on the device.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Sequence
from typing import Any

#: How long a TURN credential is good for.
TURN_CREDENTIAL_TTL = 600


def turn_rest_credentials(
    secret: str, user_id: str, now: float, ttl: int = TURN_CREDENTIAL_TTL
) -> tuple[str, str]:
    """``(username, credential)`` valid until ``now + ttl`` for ``user_id``."""
    username = f"{int(now) + ttl}:{user_id}"
    digest = hmac.new(secret.encode(), username.encode(), hashlib.sha1).digest()
    return username, base64.b64encode(digest).decode()


def turn_ice_servers(
    urls: Sequence[str], secret: str | None, user_id: str, now: float
) -> list[dict[str, Any]]:
    """The ``iceServers`` entry of an access answer: ``urls`` with fresh credentials."""
    if not urls or secret is None:
        return []
    username, credential = turn_rest_credentials(secret, user_id, now)
    return [{"urls": list(urls), "username": username, "credential": credential}]
