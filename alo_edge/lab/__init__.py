"""The lab: an ALO-compatible development service (auth, access, WHIP ingest, status).

It lets a device be tried end to end on one machine with no cloud account.
"""

from __future__ import annotations

from alo_edge.lab.server import LabServer, LabSettings
from alo_edge.lab.state import load_or_create_credentials
from alo_edge.lab.tokens import LabAuthError, mint_token, verify_token

__all__ = [
    "LabAuthError",
    "LabServer",
    "LabSettings",
    "load_or_create_credentials",
    "mint_token",
    "verify_token",
]
