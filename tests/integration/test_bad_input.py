"""Bad input gets a clear one-line reason and never a crash: configs, tokens, WHIP answers."""

from __future__ import annotations

import asyncio
import os
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from alo_edge.api import AloVideo
from alo_edge.app import build_video
from alo_edge.config import config_from_dict
from tests.helpers import (
    STEP,
    EventLog,
    LabProcess,
    Proc,
    device_config,
    disconnect_is,
    label,
    receiving,
    run_cli,
    state_is,
    write_toml,
)

pytestmark = pytest.mark.integration

USER = "door-1"
CHANNEL = "front-door"
EXIT_CONFIG = 78


def write_token(path: Path, token: str) -> None:
    """Put a token in place atomically, as a rotation would (never a half-written file)."""
    staging = path.with_name(f".{path.name}.new")
    staging.write_text(token + "\n", encoding="utf-8")
    os.replace(staging, path)


# --- configuration errors: exit 78 with one line naming the key -------------------------


def bad_config(tmp_path: Path, edit: Callable[[dict[str, dict[str, Any]]], None]) -> Path:
    document = device_config(
        user_id=USER,
        channel=CHANNEL,
        token_file=tmp_path / "token",
        access_url="http://127.0.0.1:9/v1/video/access",
    )
    edit(document)
    return write_toml(tmp_path / "bad.toml", document)


def misspell_channel(document: dict[str, dict[str, Any]]) -> None:
    document["alo"]["chanel"] = document["alo"].pop("channel")


def delay_as_words(document: dict[str, dict[str, Any]]) -> None:
    document["reconnect"] = {"initial_delay": "fast"}


@pytest.mark.parametrize("command", ["run", "config"])
@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (misspell_channel, [r"\balo\.chanel\b", r"did you mean '?channel'?"]),
        (delay_as_words, [r"\breconnect\.initial_delay\b", r"expected a number"]),
    ],
    ids=["unknown-key", "wrong-type"],
)
def test_a_config_error_exits_78_with_one_line_naming_the_key(
    tmp_path: Path,
    command: str,
    edit: Callable[[dict[str, dict[str, Any]]], None],
    expected: list[str],
) -> None:
    config = bad_config(tmp_path, edit)
    extra = ["--events", "-"] if command == "run" else []
    result = run_cli(command, "-c", str(config), *extra)

    assert result.returncode == EXIT_CONFIG, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    for pattern in expected:
        assert re.search(pattern, lines[0]), lines[0]
    assert "Traceback" not in result.stderr
    assert result.stdout == ""  # no config printed, no device started, no events


# --- token problems: the device keeps running, says why, and heals ----------------------


def start_lab_device(lab: LabProcess, start_device: Callable[..., Proc], token_file: Path) -> Proc:
    # max_delay 2: auth failures wait at the cap, which keeps these tests short.
    return start_device(
        device_config(
            user_id=USER,
            channel=CHANNEL,
            token_file=token_file,
            access_url=f"{lab.url}/v1/video/access",
            reconnect={"max_delay": 2},
        )
    )


def access_log_lines(lab: LabProcess) -> list[str]:
    assert lab.proc is not None
    return [line for line in lab.proc.stderr.lines if "access" in line]


def test_a_missing_token_file_is_named_and_a_written_token_heals_the_device(
    lab: LabProcess, start_device: Callable[..., Proc], tmp_path: Path
) -> None:
    token_file = tmp_path / "credentials" / "token"
    token_file.parent.mkdir()
    device = start_lab_device(lab, start_device, token_file)

    error = device.wait_for(state_is("ERROR"), what="ERROR")
    message = error["detail"]["message"]
    assert str(token_file) in message
    assert "does not exist" in message
    device.wait_for(disconnect_is("ERROR"), what="onDisconnect ERROR")
    pending = device.wait_for(state_is("RECONNECT_PENDING"), what="RECONNECT_PENDING")
    assert pending["detail"]["pendingRestartSeconds"] == 2  # auth errors wait at the cap
    assert device.running
    assert CHANNEL not in lab.channels()

    write_token(token_file, lab.mint(USER))

    device.wait_for(state_is("CONNECTED"), what="CONNECTED once the token exists")
    lab.wait_for_channel(CHANNEL, receiving)
    assert device.running


def test_an_expired_token_is_refused_before_any_request(
    lab: LabProcess, start_device: Callable[..., Proc], tmp_path: Path
) -> None:
    token_file = tmp_path / "token"
    write_token(token_file, lab.mint(USER, ttl_minutes=1, now=time.time() - 3600))
    device = start_lab_device(lab, start_device, token_file)

    error = device.wait_for(state_is("ERROR"), what="ERROR")
    assert "expired at" in error["detail"]["message"]
    device.wait_for(state_is("RECONNECT_PENDING"), what="RECONNECT_PENDING")
    assert device.running
    # The lab never heard of it: no channel, no access request in its log.
    assert CHANNEL not in lab.channels()
    assert access_log_lines(lab) == []

    # The control: a fresh token is re-read on the next attempt, and the lab logs access.
    write_token(token_file, lab.mint(USER))
    device.wait_for(state_is("CONNECTED"), what="CONNECTED with a fresh token")
    assert lab.proc is not None
    assert lab.proc.stderr.wait_line(lambda line: "access granted" in line, STEP)
    lab.wait_for_channel(CHANNEL, receiving)


# --- a WHIP endpoint that answers badly -------------------------------------------------

OPAQUE_TOKEN = "opaque-test-token-42"
RESOURCE = f"/whip/{CHANNEL}/resource-1"


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: str


class ScriptedWhip:
    """A real aiohttp WHIP endpoint on 127.0.0.1 whose POST answer a test scripts."""

    def __init__(self) -> None:
        self.answer: Callable[[], web.Response] = lambda: web.Response(status=500)
        self.requests: list[Request] = []
        self._changed = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self.url = ""

    @property
    def posts(self) -> list[Request]:
        return [r for r in self.requests if r.method == "POST"]

    @property
    def deletes(self) -> list[Request]:
        return [r for r in self.requests if r.method == "DELETE"]

    async def _record(self, request: web.Request) -> None:
        body = await request.text()
        self.requests.append(Request(request.method, request.path, dict(request.headers), body))
        self._changed.set()

    async def _post(self, request: web.Request) -> web.Response:
        await self._record(request)
        return self.answer()

    async def _delete(self, request: web.Request) -> web.Response:
        await self._record(request)
        return web.Response(status=200)

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/whip/{channel}", self._post)
        app.router.add_delete("/whip/{channel}/{resource}", self._delete)
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        self._runner = runner
        host, port = runner.addresses[0][:2]
        self.url = f"http://{host}:{port}/whip/{CHANNEL}"

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def wait_until(self, predicate: Callable[[], bool], within: float, what: str) -> None:
        deadline = time.monotonic() + within
        while True:
            self._changed.clear()
            if predicate():
                return
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                seen = [(r.method, r.path) for r in self.requests]
                raise AssertionError(f"waited {within:g} s for {what}; requests: {seen}")
            try:
                await asyncio.wait_for(self._changed.wait(), remaining)
            except TimeoutError:
                continue


@pytest.fixture
async def whip() -> AsyncIterator[ScriptedWhip]:
    server = ScriptedWhip()
    await server.start()
    try:
        yield server
    finally:
        await asyncio.wait_for(server.stop(), STEP)


StartDevice = Callable[[dict[str, float]], Awaitable[EventLog]]


@pytest.fixture
async def in_process_device(whip: ScriptedWhip, tmp_path: Path) -> AsyncIterator[StartDevice]:
    """Builds the device as `alo-edge run` does and connects it to the scripted endpoint."""
    videos: list[AloVideo] = []

    async def start(reconnect: dict[str, float]) -> EventLog:
        token_file = tmp_path / "token"
        write_token(token_file, OPAQUE_TOKEN)
        config = config_from_dict(
            device_config(
                user_id=USER,
                channel=CHANNEL,
                token_file=token_file,
                url=whip.url,
                reconnect=reconnect,
            )
        )
        video = build_video(config)
        videos.append(video)
        log = EventLog()
        log.attach(video)
        await video.connect(CHANNEL)
        return log

    try:
        yield start
    finally:
        for video in videos:
            await asyncio.wait_for(video.disconnect(), STEP)
            for source in video.media_sources:
                source.stop()


def assert_real_offer(request: Request) -> None:
    """The device POSTed a real offer with its token, as WHIP asks."""
    assert request.headers["Authorization"] == f"Bearer {OPAQUE_TOKEN}"
    assert request.headers["Content-Type"].startswith("application/sdp")
    assert request.body.startswith("v=0")
    assert "m=video" in request.body
    assert "m=audio" in request.body


async def assert_error_reported(log: EventLog, *fragments: str) -> dict[str, Any]:
    """ERROR carrying every fragment in its one-line message, then onDisconnect, then a wait."""
    error = await log.wait_for(state_is("ERROR"), what="ERROR")
    message = error["detail"]["message"]
    for fragment in fragments:
        assert fragment in message, message
    assert "\n" not in message
    pending = await log.wait_for(state_is("RECONNECT_PENDING"), what="RECONNECT_PENDING")
    at = log.events.index(error)
    assert [label(e) for e in log.events[at : at + 3]] == [
        "onConnectionChange:ERROR",
        "onDisconnect:ERROR",
        "onConnectionChange:RECONNECT_PENDING",
    ]
    return pending


def created(
    body: str, *, location: str | None = RESOURCE, content_type: str = "application/sdp"
) -> Callable[[], web.Response]:
    """A scripted 201 answer."""
    headers = {"Location": location} if location else {}
    return lambda: web.Response(status=201, text=body, content_type=content_type, headers=headers)


@pytest.mark.parametrize(
    ("answer", "fragment", "resource_created"),
    [
        (created("v=0\r\ngarbage"), "malformed SDP answer", True),
        (created("v=0\r\n", location=None), "no Location header", False),
        (created('{"sdp": "v=0"}', content_type="application/json"), "application/sdp", True),
    ],
    ids=["malformed-sdp", "no-location", "wrong-content-type"],
)
async def test_an_unusable_whip_answer_is_an_error_and_the_resource_is_deleted(
    whip: ScriptedWhip,
    in_process_device: StartDevice,
    answer: Callable[[], web.Response],
    fragment: str,
    resource_created: bool,
) -> None:
    whip.answer = answer
    log = await in_process_device({"max_delay": 3})

    await assert_error_reported(log, fragment)
    assert_real_offer(whip.posts[0])
    if resource_created:
        # The server created a session; the device must not leave it behind.
        await whip.wait_until(lambda: bool(whip.deletes), STEP, "the DELETE")
        delete = whip.deletes[0]
        assert delete.path == RESOURCE
        assert delete.headers["Authorization"] == f"Bearer {OPAQUE_TOKEN}"
    else:
        assert whip.deletes == []


async def test_a_whip_server_error_is_reported_and_retried(
    whip: ScriptedWhip, in_process_device: StartDevice
) -> None:
    whip.answer = lambda: web.Response(status=500, text="internal error")
    log = await in_process_device({"max_delay": 3})

    await assert_error_reported(log, "HTTP 500")
    await whip.wait_until(lambda: len(whip.posts) >= 2, STEP, "a second POST")
    for post in whip.posts:
        assert_real_offer(post)
    assert whip.deletes == []  # a 500 created nothing


async def test_a_refused_token_waits_at_the_cap(
    whip: ScriptedWhip, in_process_device: StartDevice
) -> None:
    whip.answer = lambda: web.json_response(
        {"error": "token revoked"},
        status=401,
        headers={"WWW-Authenticate": 'Bearer realm="test"'},
    )
    log = await in_process_device({"initial_delay": 1, "max_delay": 3})

    pending = await assert_error_reported(log, "refused the token", "HTTP 401", "token revoked")
    # The cap (3 s) less at most 20 % jitter, shown rounded up: 3.
    assert pending["detail"]["pendingRestartSeconds"] == 3
    assert pending["detail"]["retryCount"] == 1
    # A second later the countdown ticks and the server has not been asked again.
    tick = await log.wait_for(state_is("RECONNECT_PENDING"), STEP, "the next countdown tick")
    assert tick["detail"]["pendingRestartSeconds"] == 2
    assert len(whip.posts) == 1
    assert whip.deletes == []
    assert OPAQUE_TOKEN not in str(log.events)
