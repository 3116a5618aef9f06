"""What a WHIP or access server's refusal becomes, and the DELETEs kept for later (no I/O)."""

from __future__ import annotations

import json
import logging

import pytest
from multidict import CIMultiDict

from alo_edge.errors import AuthError, ConflictError, TokenRejectedError, TransportError
from alo_edge.transport.http import MAX_REASON_CHARS, refusal_for, server_reason
from alo_edge.transport.whip_cleanup import PendingDeletes
from tests.fakes import FakeClock

TOKEN = "device-token-0123456789"


def refusal(status: int, body: bytes | str, **headers: str) -> Exception:
    data = body.encode() if isinstance(body, str) else body
    return refusal_for(
        status, data, CIMultiDict(headers), what="WHIP endpoint", expected=201, secrets=(TOKEN,)
    )


# --- the server's reason ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"Endpoint ID already in use", "Endpoint ID already in use"),
        (json.dumps({"error": "invalid_token"}).encode(), "invalid_token"),
        (json.dumps({"message": "room is full"}).encode(), "room is full"),
        (json.dumps({"reason": "maintenance"}).encode(), "maintenance"),
        (b"<html><body><h1>403 Forbidden</h1></body></html>", ""),
        (b"", ""),
        (b"line one\r\nline two\x00\x1b[31m", "line one line two [31m"),
        (b"\xff\xfe not utf-8", "\ufffd\ufffd not utf-8"),
    ],
)
def test_the_servers_reason_is_one_short_printable_line(body: bytes, reason: str) -> None:
    assert server_reason(body) == reason


def test_a_reason_never_carries_the_token_or_a_url_secret_and_is_cut_short() -> None:
    body = f"token {TOKEN} refused; see https://help.example/?sig=abc " + "x" * 500
    reason = server_reason(body.encode(), secrets=(TOKEN,))
    assert TOKEN not in reason
    assert "token *** refused; see https://help.example/?sig=***" in reason
    assert len(reason) <= MAX_REASON_CHARS + 3


# --- what the refusal is ------------------------------------------------------------------


def test_403_in_use_is_a_conflict_with_the_reason_not_an_auth_failure() -> None:
    error = refusal(403, "Endpoint ID already in use")
    assert type(error) is ConflictError
    assert error.retryable
    assert not isinstance(error, AuthError)  # so: not at the auth cap, no auth LED
    assert str(error) == (
        "WHIP endpoint still holds an earlier session of this device "
        "(HTTP 403: Endpoint ID already in use)"
    )


def test_409_is_a_conflict_whatever_it_says_and_keeps_retry_after() -> None:
    error = refusal(409, "", **{"Retry-After": "5"})
    assert type(error) is ConflictError
    assert error.retry_after == 5.0
    assert "HTTP 409" in str(error)


@pytest.mark.parametrize(
    ("status", "verb", "kind"),
    [(401, "refused the token", TokenRejectedError), (403, "denied access", AuthError)],
)
def test_other_401_and_403_are_auth_failures_naming_the_reason(
    status: int, verb: str, kind: type[AuthError]
) -> None:
    error = refusal(status, json.dumps({"error": "expired"}))
    assert type(error) is kind
    assert str(error) == f"WHIP endpoint {verb} (HTTP {status}): expired"


def test_anything_else_is_a_transport_error_with_the_reason_and_retry_after() -> None:
    error = refusal(503, "Janus unavailable", **{"Retry-After": "7"})
    assert type(error) is TransportError
    assert str(error) == "WHIP endpoint answered HTTP 503, expected 201: Janus unavailable"
    assert error.retry_after == 7.0


# --- DELETEs kept for later ---------------------------------------------------------------


def test_pending_deletes_are_bounded_in_count_oldest_forgotten_first(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = FakeClock()
    pending = PendingDeletes(max_pending=3, max_age=100, clock=clock.monotonic)
    for n in range(5):
        pending.add(f"https://whip.example/r/{n}", TOKEN)
    assert pending.urls == [f"https://whip.example/r/{n}" for n in (2, 3, 4)]
    assert "https://whip.example/r/0 forgotten (too many undelivered DELETEs)" in caplog.text
    pending.add("https://whip.example/r/3", TOKEN)  # again: kept once, now the newest
    assert pending.urls[-1] == "https://whip.example/r/3"
    assert len(pending) == 3


def test_pending_deletes_are_forgotten_after_max_age(caplog: pytest.LogCaptureFixture) -> None:
    clock = FakeClock()
    pending = PendingDeletes(max_pending=8, max_age=100, clock=clock.monotonic)
    pending.add("https://whip.example/r/old?sig=s3cret", TOKEN)
    clock.advance(60)
    pending.add("https://whip.example/r/new", TOKEN)
    clock.advance(50)
    caplog.set_level(logging.WARNING)
    assert [e.url for e in pending.due()] == ["https://whip.example/r/new"]
    assert "r/old?sig=*** forgotten (undelivered for more than 100 s)" in caplog.text
    assert "s3cret" not in caplog.text
    assert "device-token" not in repr(pending.due())
