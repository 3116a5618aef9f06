"""ACQUIRING_ACCESS: the token file, JWT expiry, the access answer, Retry-After."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jwt
import pytest
from multidict import CIMultiDict

from alo_edge.config import Config, config_from_dict
from alo_edge.errors import AuthError, SignallingError, TransportError
from alo_edge.session.access import (
    MAX_TOKEN_BYTES,
    check_not_expired,
    read_token,
    token_path,
)
from alo_edge.transport.access import parse_access_answer
from alo_edge.transport.base import Access
from alo_edge.transport.http import MAX_RETRY_AFTER, retry_after_seconds

NOW = 1_700_000_000.0  # 2023-11-14T22:13:20+00:00
KEY = "unit-test-hs256-key-0123456789abcdef"


def make_jwt(**claims: Any) -> str:
    return jwt.encode({"sub": "door-1", **claims}, KEY, algorithm="HS256")


def config(**alo: Any) -> Config:
    return config_from_dict(
        {"device": {"user_id": "door-1"}, "alo": {"url": "https://x/whip", "channel": "c", **alo}}
    )


# --- the token file ---------------------------------------------------------------------


def test_token_is_read_without_surrounding_whitespace(tmp_path: Path) -> None:
    path = tmp_path / "token"
    path.write_text("  abc.def.ghi\n\n", encoding="ascii")
    assert read_token(path) == "abc.def.ghi"


def test_rotated_token_file_is_read_afresh(tmp_path: Path) -> None:
    path = tmp_path / "token"
    path.write_text("first\n", encoding="ascii")
    assert read_token(path) == "first"
    path.write_text("second\n", encoding="ascii")
    assert read_token(path) == "second"


def test_missing_token_file_names_the_path(tmp_path: Path) -> None:
    path = tmp_path / "no-such-token"
    with pytest.raises(AuthError, match="does not exist") as caught:
        read_token(path)
    assert str(path) in str(caught.value)


@pytest.mark.parametrize("content", ["", " \n\t\n"], ids=["empty", "blank"])
def test_empty_token_file_is_an_auth_error(tmp_path: Path, content: str) -> None:
    path = tmp_path / "token"
    path.write_text(content, encoding="ascii")
    with pytest.raises(AuthError, match="is empty") as caught:
        read_token(path)
    assert str(path) in str(caught.value)


def test_huge_token_file_is_refused_without_reading_it_all(tmp_path: Path) -> None:
    path = tmp_path / "token"
    path.write_bytes(b"a" * (MAX_TOKEN_BYTES * 64))
    with pytest.raises(AuthError, match=f"larger than {MAX_TOKEN_BYTES} bytes"):
        read_token(path)


def test_token_of_exactly_the_limit_is_accepted(tmp_path: Path) -> None:
    path = tmp_path / "token"
    path.write_bytes(b"a" * MAX_TOKEN_BYTES)
    assert len(read_token(path)) == MAX_TOKEN_BYTES


def test_binary_token_file_is_an_auth_error(tmp_path: Path) -> None:
    path = tmp_path / "token"
    path.write_bytes(b"\xff\xfe\x00token")
    with pytest.raises(AuthError, match="text token"):
        read_token(path)


def test_unreadable_token_path_is_an_auth_error(tmp_path: Path) -> None:
    with pytest.raises(AuthError, match="cannot be read") as caught:
        read_token(tmp_path)  # a directory
    assert str(tmp_path) in str(caught.value)


def test_auth_errors_are_retryable() -> None:
    assert AuthError("x").retryable


# --- where the token lives ----------------------------------------------------------------


def test_token_file_from_config_wins_over_the_credential_directory(tmp_path: Path) -> None:
    configured = tmp_path / "token"
    environ = {"CREDENTIALS_DIRECTORY": "/run/credentials/alo-edge.service"}
    assert token_path(config(token_file=str(configured)), environ) == configured


def test_token_path_falls_back_to_the_systemd_credential() -> None:
    environ = {"CREDENTIALS_DIRECTORY": "/run/credentials/alo-edge.service"}
    assert token_path(config(), environ) == Path("/run/credentials/alo-edge.service/alo-token")


def test_token_path_without_any_source_says_how_to_configure_one() -> None:
    with pytest.raises(AuthError) as caught:
        token_path(config(), {})
    message = str(caught.value)
    assert "alo.token_file" in message
    assert "LoadCredential=alo-token:" in message


# --- JWT expiry -------------------------------------------------------------------------


def test_expired_jwt_names_the_expiry_time_in_iso_form() -> None:
    token = make_jwt(exp=int(NOW) - 60)
    with pytest.raises(AuthError) as caught:
        check_not_expired(token, NOW)
    assert "expired at 2023-11-14T22:12:20+00:00" in str(caught.value)


def test_jwt_expiring_exactly_now_is_expired() -> None:
    with pytest.raises(AuthError, match="expired at"):
        check_not_expired(make_jwt(exp=int(NOW)), NOW)


def test_valid_jwt_passes() -> None:
    check_not_expired(make_jwt(exp=int(NOW) + 1), NOW)


def test_jwt_without_expiry_passes() -> None:
    check_not_expired(make_jwt(), NOW)


def test_expiry_check_does_not_need_the_signing_key() -> None:
    token = jwt.encode({"exp": int(NOW) - 1}, "a-key-the-device-never-has-0123456789", "HS256")
    with pytest.raises(AuthError, match="expired at"):
        check_not_expired(token, NOW)


@pytest.mark.parametrize("token", ["opaque-token-123", "sk_live_abcdef", "a.b"])
def test_opaque_token_passes(token: str) -> None:
    check_not_expired(token, NOW)


def test_jwt_with_undecodable_claims_is_an_auth_error() -> None:
    with pytest.raises(AuthError, match="cannot be decoded"):
        check_not_expired("eyJhbGciOiJIUzI1NiJ9.!!!not-base64!!!.sig", NOW)


def test_jwt_with_non_numeric_exp_is_an_auth_error() -> None:
    with pytest.raises(AuthError, match="'exp' claim is not a number"):
        check_not_expired(make_jwt(exp="tomorrow"), NOW)


# --- the access endpoint's answer -----------------------------------------------------------


def answer(**fields: Any) -> bytes:
    body: dict[str, Any] = {
        "transport": "whip",
        "url": "https://sfu.example.net/whip/front",
        "token": "session-token",
        "iceServers": [
            {"urls": ["stun:stun.example.net"]},
            {"urls": "turn:turn.example.net", "username": "u", "credential": "c"},
        ],
    }
    body.update(fields)
    return json.dumps({k: v for k, v in body.items() if v is not ...}).encode()


def test_good_access_answer_says_where_and_how_to_connect() -> None:
    access = parse_access_answer(answer(), default_token="user-token")
    assert access == Access(
        "whip",
        "https://sfu.example.net/whip/front",
        "session-token",
        (
            {"urls": ["stun:stun.example.net"]},
            {"urls": ["turn:turn.example.net"], "username": "u", "credential": "c"},
        ),
    )


def test_access_answer_without_a_token_keeps_the_user_token() -> None:
    access = parse_access_answer(answer(token=..., iceServers=...), default_token="user-token")
    assert access.token == "user-token"
    assert access.ice_servers == ()


def test_access_never_shows_the_token_in_its_repr() -> None:
    access = parse_access_answer(answer(), default_token="user-token")
    assert "session-token" not in repr(access)


@pytest.mark.parametrize(
    ("payload", "names"),
    [
        (b"<html>502 Bad Gateway</html>", "not JSON"),
        (b"\xff\xfe", "not JSON"),
        (b'["whip"]', "not a JSON object"),
        (answer(transport="janus"), "'transport'"),
        (answer(transport=...), "'transport'"),
        (answer(url="ftp://sfu.example.net/whip"), "'url'"),
        (answer(url=...), "'url'"),
        (answer(url=42), "'url'"),
        (answer(token=7), "'token'"),
        (answer(token=""), "'token'"),
    ],
)
def test_malformed_access_answer_is_a_signalling_error_naming_the_field(
    payload: bytes, names: str
) -> None:
    with pytest.raises(SignallingError) as caught:
        parse_access_answer(payload, default_token="user-token")
    assert names in str(caught.value)
    assert caught.value.retryable


def test_signalling_error_is_a_transport_error() -> None:
    assert issubclass(SignallingError, TransportError)


# --- Retry-After -------------------------------------------------------------------------

RETRY_NOW = datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC)


def http_date(moment: datetime) -> str:
    return moment.strftime("%a, %d %b %Y %H:%M:%S GMT")


@pytest.mark.parametrize(("value", "seconds"), [("7", 7.0), (" 120 ", 120.0), ("0", 0.0)])
def test_retry_after_in_seconds(value: str, seconds: float) -> None:
    assert retry_after_seconds(CIMultiDict({"Retry-After": value}), RETRY_NOW) == seconds


def test_retry_after_header_name_is_case_insensitive() -> None:
    assert retry_after_seconds(CIMultiDict({"retry-after": "9"}), RETRY_NOW) == 9.0


def test_retry_after_as_an_http_date() -> None:
    headers = CIMultiDict({"Retry-After": http_date(RETRY_NOW + timedelta(seconds=45))})
    assert retry_after_seconds(headers, RETRY_NOW) == 45.0


def test_retry_after_date_in_the_past_means_now() -> None:
    headers = CIMultiDict({"Retry-After": http_date(RETRY_NOW - timedelta(hours=1))})
    assert retry_after_seconds(headers, RETRY_NOW) == 0.0


@pytest.mark.parametrize("value", ["soon", "-5", "1.5", "", "Mon, 99 Foo 2023"])
def test_unusable_retry_after_is_ignored(value: str) -> None:
    assert retry_after_seconds(CIMultiDict({"Retry-After": value}), RETRY_NOW) is None


def test_missing_retry_after_is_none() -> None:
    assert retry_after_seconds(CIMultiDict(), RETRY_NOW) is None


def test_retry_after_is_capped_so_a_server_cannot_put_the_device_to_sleep_for_a_day() -> None:
    assert retry_after_seconds(CIMultiDict({"Retry-After": "86400"}), RETRY_NOW) == MAX_RETRY_AFTER
    tomorrow = CIMultiDict({"Retry-After": http_date(RETRY_NOW + timedelta(days=1))})
    assert retry_after_seconds(tomorrow, RETRY_NOW) == MAX_RETRY_AFTER
    assert MAX_RETRY_AFTER == 600.0
