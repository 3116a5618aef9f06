"""The lab's persistent credentials: its API key and its token-signing secret.

Kept on disk so a restarted lab still accepts the tokens it minted before (a device
holding a week-long token should not need a new one because the lab restarted).
"""

from __future__ import annotations

import logging
import os
import secrets
from pathlib import Path

from alo_edge.secret_files import write_private_file

logger = logging.getLogger(__name__)

API_KEY_FILE = "api_key"
SECRET_FILE = "secret"


def _read_or_create(path: Path) -> str:
    try:
        value = path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        value = ""
    if value:
        return value
    value = secrets.token_urlsafe(32)
    write_private_file(path, value + "\n")
    logger.info("created a new lab credential in %s", path)
    return value


def load_or_create_credentials(state_dir: Path) -> tuple[str, str]:
    """``(api_key, secret)`` from ``state_dir``, created (0600, dir 0700) on first use."""
    state_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    # mkdir's mode is filtered by the umask and ignored for an existing directory.
    os.chmod(state_dir, 0o700)
    api_key = _read_or_create(state_dir / API_KEY_FILE)
    secret = _read_or_create(state_dir / SECRET_FILE)
    return api_key, secret
