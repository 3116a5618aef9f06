"""Secrets on disk: written 0600 from the first byte and atomically; exposed ones are warned of."""

from __future__ import annotations

import logging
import os
import secrets
from pathlib import Path


def write_private_file(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` so that no other user can ever read it, not even briefly."""
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def warn_if_exposed(path: Path, what: str, *, group_too: bool = True) -> bool:
    """Log a warning naming ``path`` and the chmod fix when other users can read it.

    ``group_too``: a group-readable file counts as exposed too (right for a token; a
    config file is often 0640 root:alo-edge on purpose). Returns True when it warned.
    A file that cannot be examined is left to the code that reads it to report.
    """
    try:
        mode = path.stat().st_mode & 0o777
    except OSError:
        return False
    exposed = mode & (0o044 if group_too else 0o004)
    if exposed:
        logging.getLogger(__name__).warning(
            "%s %s is readable by other users (mode %03o): run 'chmod 600 %s'",
            what,
            path,
            mode,
            path,
        )
    return bool(exposed)
