"""The lab's HS256 tokens: minted and verified with an injected clock (no sleeping)."""

from __future__ import annotations

import base64
import json

import jwt
import pytest

from alo_edge.lab.tokens import LabAuthError, iso_utc, mint_token, verify_token

SECRET = "s" * 40
NOW = 1_700_000_000.0  # 2023-11-14T22:13:20Z


def test_round_trip_carries_the_claims() -> None:
    token = mint_token(SECRET, "door-1", ttl_minutes=60, now=NOW)
    claims = verify_token(SECRET, token, now=NOW + 60)
    assert claims == {"sub": "door-1", "iat": int(NOW), "exp": int(NOW) + 3600, "iss": "alo-lab"}


def test_still_valid_one_second_before_expiry() -> None:
    token = mint_token(SECRET, "door-1", ttl_minutes=1, now=NOW)
    assert verify_token(SECRET, token, now=NOW + 59)["sub"] == "door-1"


def test_expired_token_names_the_expiry_in_utc() -> None:
    token = mint_token(SECRET, "door-1", ttl_minutes=1, now=NOW)
    with pytest.raises(LabAuthError, match="expired") as caught:
        verify_token(SECRET, token, now=NOW + 61)
    assert iso_utc(NOW + 60) == "2023-11-14T22:14:20Z"
    assert "2023-11-14T22:14:20Z" in str(caught.value)


def test_bad_signature() -> None:
    token = mint_token("x" * 40, "door-1", ttl_minutes=60, now=NOW)
    with pytest.raises(LabAuthError, match="signature"):
        verify_token(SECRET, token, now=NOW)


def test_tampered_payload_fails_the_signature() -> None:
    header, _, signature = mint_token(SECRET, "door-1", 60, NOW).split(".")
    forged = base64.urlsafe_b64encode(
        json.dumps({"sub": "admin", "exp": NOW + 9999, "iss": "alo-lab"}).encode()
    )
    token = f"{header}.{forged.decode().rstrip('=')}.{signature}"
    with pytest.raises(LabAuthError, match="signature"):
        verify_token(SECRET, token, now=NOW)


@pytest.mark.parametrize("garbage", ["not-a-jwt", "a.b.c", "...", "eyJhbGciOiJIUzI1NiJ9.e30"])
def test_garbage_token_is_malformed(garbage: str) -> None:
    with pytest.raises(LabAuthError, match="malformed"):
        verify_token(SECRET, garbage, now=NOW)


@pytest.mark.parametrize("missing", [None, ""])
def test_missing_token(missing: str | None) -> None:
    with pytest.raises(LabAuthError, match="missing"):
        verify_token(SECRET, missing, now=NOW)


def test_other_issuer_is_refused() -> None:
    token = mint_token(SECRET, "door-1", 60, NOW, issuer="someone-else")
    with pytest.raises(LabAuthError, match="issued"):
        verify_token(SECRET, token, now=NOW)


def test_token_without_exp_is_malformed() -> None:
    token = jwt.encode({"sub": "door-1", "iss": "alo-lab"}, SECRET.encode(), algorithm="HS256")
    with pytest.raises(LabAuthError, match="'exp'"):
        verify_token(SECRET, token, now=NOW)


def test_unsigned_token_is_refused() -> None:
    claims = {"sub": "door-1", "iss": "alo-lab", "exp": NOW + 60}
    token = jwt.encode(claims, "", algorithm="none")
    with pytest.raises(LabAuthError):
        verify_token(SECRET, token, now=NOW)


def test_short_secret_and_bad_arguments_are_refused() -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        mint_token("short", "door-1", 60, NOW)
    with pytest.raises(ValueError, match="positive"):
        mint_token(SECRET, "door-1", 0, NOW)
    with pytest.raises(ValueError, match="user_id"):
        mint_token(SECRET, "", 60, NOW)
