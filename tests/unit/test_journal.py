"""Logging: journald's native protocol with ALO_* fields, JSON lines, text elsewhere."""

from __future__ import annotations

import io
import json
import logging
import os
import socket
import struct
from collections.abc import Iterator
from pathlib import Path

import pytest

from alo_edge.system.journal import (
    JournaldHandler,
    JsonFormatter,
    configure_logging,
    encode_journal_fields,
    stderr_is_journal,
)


def decode_journal_fields(data: bytes) -> dict[str, str]:
    """The inverse of journald's native format, as journald itself parses it."""
    fields: dict[str, str] = {}
    while data:
        line, _, rest = data.partition(b"\n")
        if b"=" in line:
            key, _, value = line.partition(b"=")
            fields[key.decode()] = value.decode()
            data = rest
        else:
            (size,) = struct.unpack("<Q", rest[:8])
            fields[line.decode()] = rest[8 : 8 + size].decode()
            data = rest[8 + size + 1 :]
    return fields


@pytest.fixture
def journal_socket(tmp_path: Path) -> Iterator[socket.socket]:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(tmp_path / "journal"))
    sock.settimeout(2)
    yield sock
    sock.close()


def test_records_reach_journald_with_uppercase_alo_fields(
    journal_socket: socket.socket, tmp_path: Path
) -> None:
    handler = JournaldHandler(
        {"ALO_CHANNEL": "front-door", "ALO_DEVICE_ID": "pi-01"},
        socket_path=str(tmp_path / "journal"),
    )
    logger = logging.getLogger("alo_edge.test.journal")
    logger.addHandler(handler)
    try:
        logger.warning(
            "connection state %s -> %s",
            "ERROR",
            "RECONNECT_PENDING",
            extra={"ALO_STATE": "RECONNECT_PENDING", "ALO_RETRY": 3, "ALO_PENDING_S": 4},
        )
    finally:
        logger.removeHandler(handler)
        handler.close()
    fields = decode_journal_fields(journal_socket.recv(65536))
    assert fields["MESSAGE"] == "connection state ERROR -> RECONNECT_PENDING"
    assert fields["PRIORITY"] == "4"
    assert fields["SYSLOG_IDENTIFIER"] == "alo-edge"
    assert fields["ALO_STATE"] == "RECONNECT_PENDING"
    assert fields["ALO_RETRY"] == "3"
    assert fields["ALO_PENDING_S"] == "4"
    assert fields["ALO_CHANNEL"] == "front-door"
    assert fields["ALO_DEVICE_ID"] == "pi-01"
    assert all(key == key.upper() for key in fields)


def test_multiline_values_use_the_length_prefixed_form() -> None:
    encoded = encode_journal_fields({"MESSAGE": "line one\nline two", "PRIORITY": 3})
    assert decode_journal_fields(encoded) == {"MESSAGE": "line one\nline two", "PRIORITY": "3"}


def test_json_format_carries_the_alo_fields() -> None:
    record = logging.LogRecord("alo_edge.x", logging.INFO, __file__, 1, "state %s", ("X",), None)
    record.ALO_STATE = "CONNECTED"
    entry = json.loads(JsonFormatter().format(record))
    assert entry["message"] == "state X"
    assert entry["ALO_STATE"] == "CONNECTED"
    assert entry["level"] == "info"


def test_journal_is_chosen_only_when_stderr_really_is_the_journal(tmp_path: Path) -> None:
    with open(tmp_path / "stream", "w") as stream:
        info = os.fstat(stream.fileno())
        assert stderr_is_journal({"JOURNAL_STREAM": f"{info.st_dev}:{info.st_ino}"}, stream)
        assert not stderr_is_journal({"JOURNAL_STREAM": "1:2"}, stream)
        assert not stderr_is_journal({}, stream)


def test_text_format_is_readable_and_respects_the_level() -> None:
    stream = io.StringIO()
    root, package = logging.getLogger(), logging.getLogger("alo_edge")
    saved = (list(root.handlers), root.level, package.level)
    try:
        configure_logging("warning", "text", stream=stream)
        logging.getLogger("alo_edge.session").info("hidden")
        logging.getLogger("alo_edge.session").warning("token file %s is empty", "/etc/t")
    finally:
        for handler in list(root.handlers):
            root.removeHandler(handler)
        for handler in saved[0]:
            root.addHandler(handler)
        root.setLevel(saved[1])
        package.setLevel(saved[2])
    output = stream.getvalue()
    assert "hidden" not in output
    assert "WARNING alo_edge.session: token file /etc/t is empty" in output
