"""Logging setup: journald with structured fields under systemd, readable text elsewhere.

Structured fields travel as UPPERCASE ``extra`` attributes (ALO_STATE, ALO_RETRY,
ALO_PENDING_S) because journald keeps only uppercase field names; ALO_CHANNEL and
ALO_DEVICE_ID are stamped on every record. journald is spoken natively (the
datagram protocol), so no compiled library is needed on the device. Every handler
masks URL secrets (userinfo, query values) in every record, whoever logged it
(:class:`MaskUrls`).
"""

from __future__ import annotations

import json
import logging
import os
import socket
import struct
import sys
from collections.abc import Mapping
from typing import Any, TextIO

from alo_edge.urls import mask_urls_in

JOURNAL_SOCKET = "/run/systemd/journal/socket"
_FIELD_PREFIX = "ALO_"
_PRIORITY = {
    logging.CRITICAL: 2,
    logging.ERROR: 3,
    logging.WARNING: 4,
    logging.INFO: 6,
    logging.DEBUG: 7,
}


def alo_fields(record: logging.LogRecord) -> dict[str, Any]:
    """The record's structured ALO_* fields."""
    return {k: v for k, v in vars(record).items() if k.startswith(_FIELD_PREFIX)}


class MaskUrls(logging.Filter):
    """Masks the userinfo, query values and fragment of every URL in a record.

    On the handler, so records of aiohttp and aiortc (whose errors quote URLs) are
    covered too. The traceback is formatted and masked here as well (``exc_text``).
    """

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = mask_urls_in(message)
        if masked != message:
            record.msg, record.args = masked, None
        if record.exc_info and not record.exc_text:
            record.exc_text = mask_urls_in(logging.Formatter().formatException(record.exc_info))
        return True


def _exception_text(record: logging.LogRecord) -> str:
    if record.exc_text:
        return record.exc_text
    return logging.Formatter().formatException(record.exc_info) if record.exc_info else ""


class JsonFormatter(logging.Formatter):
    """One JSON object per record: ts, level, logger, message and the ALO_* fields."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": round(record.created, 3),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update(alo_fields(record))
        if record.exc_info or record.exc_text:
            entry["exception"] = _exception_text(record)
        return json.dumps(entry, default=str)


class JournaldHandler(logging.Handler):
    """Sends records to journald over its native socket, with ALO_* fields."""

    def __init__(
        self,
        static_fields: Mapping[str, str] | None = None,
        socket_path: str = JOURNAL_SOCKET,
        identifier: str = "alo-edge",
    ) -> None:
        super().__init__()
        self._path = socket_path
        self._static = {"SYSLOG_IDENTIFIER": identifier, **(static_fields or {})}
        self._socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)

    def emit(self, record: logging.LogRecord) -> None:
        try:
            message = record.getMessage()
            if record.exc_info or record.exc_text:
                message += "\n" + _exception_text(record)
            fields: dict[str, Any] = {
                "MESSAGE": message,
                "PRIORITY": _PRIORITY.get(record.levelno, 6),
                "LOGGER": record.name,
                "CODE_FILE": record.pathname,
                "CODE_LINE": record.lineno,
                "CODE_FUNC": record.funcName,
                **self._static,
                **alo_fields(record),
            }
            self._socket.sendto(encode_journal_fields(fields), self._path)
        except Exception:
            self.handleError(record)

    def close(self) -> None:
        self._socket.close()
        super().close()


def encode_journal_fields(fields: Mapping[str, Any]) -> bytes:
    """journald's native datagram format; values with newlines use the length-prefixed form."""
    parts: list[bytes] = []
    for key, value in fields.items():
        data = str(value).encode("utf-8", "replace")
        name = key.encode("ascii")
        if b"\n" in data:
            parts.append(name + b"\n" + struct.pack("<Q", len(data)) + data + b"\n")
        else:
            parts.append(name + b"=" + data + b"\n")
    return b"".join(parts)


def stderr_is_journal(
    environ: Mapping[str, str] | None = None, stream: TextIO | None = None
) -> bool:
    """True when systemd connected our stderr to the journal (``$JOURNAL_STREAM`` matches it)."""
    env = os.environ if environ is None else environ
    expected = env.get("JOURNAL_STREAM", "")
    if not expected:
        return False
    try:
        info = os.fstat((stream or sys.stderr).fileno())
    except (OSError, ValueError):
        return False
    return expected == f"{info.st_dev}:{info.st_ino}"


def configure_logging(
    level: str,
    log_format: str,
    stream: TextIO | None = None,
    static_fields: Mapping[str, str] | None = None,
) -> None:
    """Route the package's records: journald (``auto`` under systemd), JSON or text lines."""
    handler: logging.Handler
    if log_format == "journal" or (log_format == "auto" and stderr_is_journal(stream=stream)):
        handler = JournaldHandler(static_fields)
    else:
        handler = logging.StreamHandler(stream or sys.stderr)
        if log_format == "json":
            handler.setFormatter(JsonFormatter())
        else:
            handler.setFormatter(
                logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s", "%H:%M:%S")
            )
    handler.addFilter(MaskUrls())
    root = logging.getLogger()
    for existing in list(root.handlers):
        root.removeHandler(existing)
        existing.close()
    root.addHandler(handler)
    root.setLevel(logging.WARNING)
    logging.getLogger("alo_edge").setLevel(level.upper())
