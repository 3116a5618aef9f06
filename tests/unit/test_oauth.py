"""The client-credentials grant (RFC 6749 4.4): the request, every bad answer, the lab's endpoint.

The request goes to the lab's real token endpoint on loopback (in this process); the
answers a lab never gives are checked through the one parser every answer goes through.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import unquote_plus

import aiohttp
import pytest

from alo_edge.errors import AuthError, SignallingError, TransportError
from alo_edge.lab import LabServer, LabSettings, verify_token
from alo_edge.lab.client import LabClient
from alo_edge.transport.oauth import basic_credentials, parse_token_answer, request_token

SECRET = "s3cr3t: with spaces+plus/ünïcode"


def answer(**fields: Any) -> bytes:
    body = {"access_token": "eyJabc.def.ghi", "token_type": "Bearer", "expires_in": 600}
    body.update(fields)
    return json.dumps({k: v for k, v in body.items() if v is not None}).encode()


def test_basic_credentials_form_urlencode_both_parts_before_base64() -> None:
    header = basic_credentials("door:42", SECRET)

    scheme, _, encoded = header.partition(" ")
    pair = base64.b64decode(encoded).decode("ascii")
    assert scheme == "Basic"
    # The ':' in the id is escaped, so the one ':' left splits id from secret (2.3.1).
    assert pair.count(":") == 1
    client_id, _, secret = pair.partition(":")
    assert (unquote_plus(client_id), unquote_plus(secret)) == ("door:42", SECRET)
    assert secret == "s3cr3t%3A+with+spaces%2Bplus%2F%C3%BCn%C3%AFcode"


def test_a_good_answer_is_a_grant() -> None:
    grant = parse_token_answer(200, answer(scope="video"))

    assert (grant.access_token, grant.expires_in, grant.scope) == ("eyJabc.def.ghi", 600.0, "video")
    assert "eyJabc" not in repr(grant)


def test_token_type_is_case_insensitive_and_expires_in_may_be_a_digit_string() -> None:
    grant = parse_token_answer(200, answer(token_type="bearer", expires_in="3599"))

    assert grant.expires_in == 3599.0


@pytest.mark.parametrize(
    ("body", "named"),
    [
        (b"<html>login</html>", "not JSON"),
        (b"[1, 2]", "not a JSON object"),
        (answer(access_token=None), "'access_token' is missing"),
        (answer(access_token=""), "'access_token' is missing"),
        (answer(access_token=42), "'access_token' is missing"),
        (answer(access_token="two\nlines"), "'access_token' holds characters"),
        (answer(access_token="a b"), "'access_token' holds characters"),
        (answer(token_type=None), "'token_type' is missing"),
        (answer(token_type="mac"), "'token_type' is 'mac'; this device sends only Bearer"),
        (answer(expires_in=None), "'expires_in' is missing or not a number"),
        (answer(expires_in="soon"), "'expires_in' is missing or not a number"),
        (answer(expires_in=True), "'expires_in' is missing or not a number"),
        (answer(expires_in=0), "'expires_in' is 0; expected a positive number"),
        (answer(expires_in=-30), "'expires_in' is -30; expected a positive number"),
        (b'{"access_token": "t", "token_type": "Bearer", "expires_in": 1e999}', "'expires_in'"),
        (answer(scope=["video"]), "'scope' is not a string"),
    ],
    ids=lambda value: value if isinstance(value, str) else None,
)
def test_a_bad_answer_is_a_retryable_error_naming_the_field(body: bytes, named: str) -> None:
    with pytest.raises(SignallingError) as caught:
        parse_token_answer(200, body)

    assert caught.value.retryable
    assert named in str(caught.value)
    assert str(caught.value).startswith("token endpoint answer")


@pytest.mark.parametrize("status", [400, 401, 403])
def test_a_refusal_is_an_auth_error_with_the_rfc_error_code(status: int) -> None:
    body = json.dumps({"error": "invalid_client", "error_description": "unknown client"})

    with pytest.raises(AuthError) as caught:
        parse_token_answer(status, body.encode())

    assert caught.value.retryable
    message = str(caught.value)
    assert f"refused the client credentials (HTTP {status}): invalid_client: unknown client" in (
        message
    )


def test_a_server_that_echoes_the_secret_does_not_get_it_into_the_message() -> None:
    body = json.dumps({"error": "invalid_client", "error_description": f"bad secret {SECRET}"})

    with pytest.raises(AuthError) as caught:
        parse_token_answer(401, body.encode(), secret=SECRET)

    assert SECRET not in str(caught.value)
    assert "bad secret ********" in str(caught.value)


def test_an_error_code_outside_the_rfc_charset_is_not_quoted() -> None:
    body = json.dumps({"error": 'bad"\\code'}).encode()

    with pytest.raises(AuthError) as caught:
        parse_token_answer(400, body)

    assert str(caught.value) == "token endpoint refused the client credentials (HTTP 400)"


@pytest.mark.parametrize("status", [429, 500, 503])
def test_a_failing_endpoint_is_a_transport_error_that_keeps_retry_after(status: int) -> None:
    with pytest.raises(TransportError) as caught:
        parse_token_answer(status, b"", retry_after=12.0)

    assert not isinstance(caught.value, SignallingError)
    assert caught.value.retry_after == 12.0
    assert f"HTTP {status}" in str(caught.value)


def test_a_redirect_is_not_followed() -> None:
    with pytest.raises(TransportError, match="redirect, not followed"):
        parse_token_answer(307, b"")


# --- against the lab's token endpoint ----------------------------------------------------


@pytest.fixture
async def lab() -> AsyncIterator[LabServer]:
    server = LabServer(LabSettings(api_key="k" * 32, secret="s" * 32, client_token_ttl=90.0))
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


async def test_the_lab_issues_client_credentials_and_grants_short_jwts(lab: LabServer) -> None:
    async with LabClient(lab.url) as client:
        secret, token_url = await client.issue_client("k" * 32, "door:42", "door-42")
    assert token_url == f"{lab.url}/v1/oauth/token"

    async with aiohttp.ClientSession() as http:
        before = time.time()
        grant = await request_token(http, token_url, "door:42", secret, scope="video")

    claims = verify_token("s" * 32, grant.access_token, time.time())
    assert claims["sub"] == "door-42"
    assert 89 <= grant.expires_in <= 90
    assert before + 88 <= claims["exp"] <= time.time() + 90
    assert grant.scope == "video"


async def test_the_lab_refuses_a_wrong_secret_as_rfc_6749_says(lab: LabServer) -> None:
    async with LabClient(lab.url) as client:
        await client.issue_client("k" * 32, "door-42")

    async with aiohttp.ClientSession() as http:
        with pytest.raises(AuthError) as caught:
            await request_token(http, f"{lab.url}/v1/oauth/token", "door-42", "not-the-secret")
        # The raw answer: 401, WWW-Authenticate Basic, {"error": "invalid_client", ...}.
        async with http.post(
            f"{lab.url}/v1/oauth/token",
            data={"grant_type": "client_credentials"},
            headers={"Authorization": basic_credentials("door-42", "not-the-secret")},
        ) as response:
            body = await response.json()
            assert response.status == 401
            assert response.headers["WWW-Authenticate"].startswith("Basic")
            assert response.headers["Cache-Control"] == "no-store"

    assert "invalid_client" in str(caught.value)
    assert body["error"] == "invalid_client"


async def test_the_lab_answers_an_unknown_grant_type_with_unsupported_grant_type(
    lab: LabServer,
) -> None:
    async with LabClient(lab.url) as client:
        secret, token_url = await client.issue_client("k" * 32, "door-42")

    async with (
        aiohttp.ClientSession() as http,
        http.post(
            token_url,
            data={"grant_type": "password"},
            headers={"Authorization": basic_credentials("door-42", secret)},
        ) as response,
    ):
        assert response.status == 400
        assert (await response.json())["error"] == "unsupported_grant_type"


async def test_a_new_secret_for_the_same_client_replaces_the_old_one(lab: LabServer) -> None:
    async with LabClient(lab.url) as client:
        old, token_url = await client.issue_client("k" * 32, "door-42")
        new, _ = await client.issue_client("k" * 32, "door-42")

    async with aiohttp.ClientSession() as http:
        assert (await request_token(http, token_url, "door-42", new)).access_token
        with pytest.raises(AuthError, match="invalid_client"):
            await request_token(http, token_url, "door-42", old)
