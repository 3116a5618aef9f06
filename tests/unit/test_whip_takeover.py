"""How a device learns that another device took its session, and nothing else is called so."""

from __future__ import annotations

import json

import pytest

from alo_edge.transport.http import auth_error_for
from alo_edge.transport.whip_cleanup import takeover_message


def body(document: object) -> bytes:
    return json.dumps(document).encode()


def test_a_410_naming_the_user_who_took_over_is_a_takeover() -> None:
    answer = body({"error": "...", "replacedBy": {"user": "door-42"}})
    assert takeover_message(410, answer) == "another device signed in as door-42 took this session"


@pytest.mark.parametrize(
    ("status", "answer"),
    [
        (404, body({"replacedBy": {"user": "door-42"}})),  # only a 410 says "replaced"
        (200, b""),
        (410, b"gone"),
        (410, body({"error": "gone"})),
        (410, body({"replacedBy": "door-42"})),
        (410, body({"replacedBy": {"user": ""}})),
        (410, body({"replacedBy": {"user": "door\n42"}})),
        (410, body({"replacedBy": {"user": "x" * 257}})),
        (410, body(["replacedBy"])),
    ],
)
def test_anything_else_is_not_called_a_takeover(status: int, answer: bytes) -> None:
    assert takeover_message(status, answer) is None


def test_a_refusal_in_plain_text_is_quoted() -> None:
    # simple-whip-server refuses a second publisher on a busy endpoint like this.
    error = auth_error_for(403, b"Endpoint ID already in use", what="WHIP endpoint")
    assert str(error) == "WHIP endpoint denied access (HTTP 403): Endpoint ID already in use"


@pytest.mark.parametrize(
    ("answer", "quoted"),
    [
        (b"<html><body>403</body></html>", ""),  # markup: not quoted
        (b"\xff", ": \ufffd"),  # not UTF-8: shown as the replacement character
        (b"token eyJhbGciOi.x.y is bad", ": token *** is bad"),  # token-shaped: masked
        (b"x" * 201, ": " + "x" * 200 + "..."),  # cut short
    ],
)
def test_markup_tokens_and_long_text_are_not_quoted_as_they_are(answer: bytes, quoted: str) -> None:
    assert str(auth_error_for(401, answer, what="WHIP endpoint")) == (
        f"WHIP endpoint refused the token (HTTP 401){quoted}"
    )
