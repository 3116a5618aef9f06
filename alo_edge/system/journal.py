"""Logging setup for the service: readable text on stderr, or one JSON object per line.

Structured fields travel as UPPERCASE ``extra`` attributes (ALO_STATE, ALO_RETRY ...),
the spelling journald keeps; the JSON format carries them too.
"""

from __future__ import annotations

import json
import logging
import sys
from typing import Any, TextIO

_FIELD_PREFIX = "ALO_"


class JsonFormatter(logging.Formatter):
    """One JSON object per record: ts, level, logger, message and the ALO_* fields."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": round(record.created, 3),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update(
            (key, value) for key, value in vars(record).items() if key.startswith(_FIELD_PREFIX)
        )
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def configure_logging(level: str, log_format: str, stream: TextIO | None = None) -> None:
    """Send the package's records to ``stream`` (stderr) in the chosen format."""
    handler = logging.StreamHandler(stream or sys.stderr)
    if log_format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(
            logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s", "%H:%M:%S")
        )
    root = logging.getLogger()
    for existing in list(root.handlers):
        root.removeHandler(existing)
    root.addHandler(handler)
    root.setLevel(logging.WARNING)
    logging.getLogger("alo_edge").setLevel(level.upper())
