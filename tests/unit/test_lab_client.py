"""The lab's one HTTP client against the real lab app, in process on 127.0.0.1.

A token is minted and verifies with the lab's secret; a refused API key and a lab that is
not there are one clear line each (for ``alo-edge token``: no traceback, no key in it).
"""

from __future__ import annotations

import socket
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from alo_edge import cli
from alo_edge.errors import AloEdgeError, ExitCode
from alo_edge.lab import LabSettings, verify_token
from alo_edge.lab.client import LabClient, LabUnreachableError, request_token
from alo_edge.lab.server import create_app

API_KEY = "bench-api-key-0123456789"
SECRET = "s" * 40


@pytest.fixture
async def lab_url() -> AsyncIterator[str]:
    """The lab's aiohttp app on a free loopback port (no ingest: nothing is published)."""
    server = TestServer(create_app(LabSettings(api_key=API_KEY, secret=SECRET)), host="127.0.0.1")
    await server.start_server()
    try:
        yield str(server.make_url("")).rstrip("/")
    finally:
        await server.close()


def closed_port_url() -> str:
    """A loopback URL where nothing listens (the port was free a moment ago)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}"


async def test_a_token_is_minted_for_the_user_with_the_ttl(lab_url: str) -> None:
    async with LabClient(lab_url) as lab:
        token = await lab.request_token(API_KEY, "door-1", ttl_minutes=5)
    claims = verify_token(SECRET, token, now=time.time())
    assert claims["sub"] == "door-1"
    assert claims["exp"] - claims["iat"] == 300


async def test_the_one_shot_helper_mints_too(lab_url: str) -> None:
    token = await request_token(lab_url + "/", API_KEY, "door-2")
    assert verify_token(SECRET, token, now=time.time())["sub"] == "door-2"


async def test_a_refused_api_key_names_the_status_and_the_labs_reason(lab_url: str) -> None:
    async with LabClient(lab_url) as lab:
        with pytest.raises(AloEdgeError) as caught:
            await lab.request_token("not-the-key", "door-1")
    message = str(caught.value)
    assert message == "lab refused the token request (HTTP 401): wrong API key"
    assert "not-the-key" not in message
    assert not isinstance(caught.value, LabUnreachableError)


async def test_channels_of_a_fresh_lab_are_empty(lab_url: str) -> None:
    async with LabClient(lab_url) as lab:
        assert await lab.channels() == {}
        assert await lab.channel_report("front-door") == {}


async def test_a_server_that_is_not_a_lab_is_named_as_such() -> None:
    app = web.Application()  # answers 404 to everything
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        async with LabClient(str(server.make_url(""))) as lab:
            with pytest.raises(AloEdgeError, match=r"HTTP 404 and no channel report"):
                await lab.channels()
            with pytest.raises(AloEdgeError, match=r"refused the token request \(HTTP 404\)"):
                await lab.request_token(API_KEY, "door-1")
    finally:
        await server.close()


async def test_an_unreachable_lab_is_one_clear_line() -> None:
    url = closed_port_url()
    async with LabClient(url) as lab:
        with pytest.raises(LabUnreachableError) as caught:
            await lab.request_token(API_KEY, "door-1")
    message = str(caught.value)
    assert message == (
        f"the lab at {url} is not reachable (Connection refused): is `alo-edge lab` running there?"
    )
    assert API_KEY not in message
    assert caught.value.__cause__ is None  # `from None`: no aiohttp chain behind it


async def test_waiting_for_a_starting_lab_is_bounded(lab_url: str) -> None:
    async with LabClient(lab_url) as lab:
        await lab.wait_until_answering(2.0)  # answers at once
    async with LabClient(closed_port_url()) as nobody:
        started = time.monotonic()
        with pytest.raises(LabUnreachableError, match=r"did not answer within 0\.3 s"):
            await nobody.wait_until_answering(0.3)
        assert time.monotonic() - started < 2.0
        started = time.monotonic()
        with pytest.raises(LabUnreachableError, match="stopped before it answered"):
            await nobody.wait_until_answering(30.0, starting=lambda: False)
        assert time.monotonic() - started < 2.0  # a dead lab process ends the wait at once


def test_alo_edge_token_reports_an_unreachable_lab_without_a_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    key_file = tmp_path / "api_key"
    key_file.write_text(API_KEY + "\n", encoding="utf-8")
    url = closed_port_url()
    argv = ["token", "--lab", url, "--api-key-file", str(key_file), "--user", "door-1"]
    started = time.monotonic()
    assert cli.main([*argv, "--wait", "0.5"]) == ExitCode.FAILURE
    assert time.monotonic() - started < 5.0  # it waited for a starting lab, boundedly
    out, err = capsys.readouterr()
    assert out == ""
    assert err.splitlines() == [
        f"alo-edge: no lab at {url} (nothing answered within 0.5 s): start `alo-edge lab` first"
    ]
