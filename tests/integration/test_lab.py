"""The lab over loopback: auth, access, and a real aiortc publisher ingested over WHIP."""

from __future__ import annotations

import asyncio
import fractions
import stat
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiohttp
import av
import numpy as np
import pytest
from aiortc import (
    AudioStreamTrack,
    RTCPeerConnection,
    RTCSessionDescription,
    VideoStreamTrack,
)

from alo_edge.lab import (
    LabServer,
    LabSettings,
    load_or_create_credentials,
    mint_token,
    verify_token,
)
from alo_edge.lab.ingest import ChannelStats
from alo_edge.transport.ice import rtc_configuration

pytestmark = pytest.mark.integration

API_KEY = "test-api-key-0123456789"
SECRET = "test-secret-0123456789-0123456789-0123456789"
WAIT = 10.0


class PatternTrack(VideoStreamTrack):
    """320x240 frames whose brightness changes, so the encoder has something to send."""

    def __init__(self) -> None:
        super().__init__()
        self._count = 0

    async def recv(self) -> av.VideoFrame:
        pts, time_base = await self.next_timestamp()
        self._count += 1
        image = np.full((240, 320, 3), self._count % 256, dtype=np.uint8)
        frame = av.VideoFrame.from_ndarray(image, format="bgr24")
        frame.pts = pts
        frame.time_base = time_base if time_base else fractions.Fraction(1, 90000)
        return frame


class Publisher:
    """A WHIP publisher as a device would be: aiortc, video + audio, bearer JWT."""

    def __init__(self, http: aiohttp.ClientSession, base_url: str, token: str) -> None:
        self.http = http
        self.base_url = base_url
        self.token = token
        self.pc = RTCPeerConnection(configuration=rtc_configuration([]))
        self.closed = asyncio.Event()
        self.location: str | None = None

        @self.pc.on("connectionstatechange")
        def _on_state() -> None:
            if self.pc.connectionState == "closed":
                self.closed.set()

    async def publish(self, channel: str) -> None:
        self.pc.addTrack(PatternTrack())
        self.pc.addTrack(AudioStreamTrack())
        await self.pc.setLocalDescription(await self.pc.createOffer())
        async with self.http.post(
            f"{self.base_url}/whip/{channel}",
            data=self.pc.localDescription.sdp,
            headers={"Authorization": f"Bearer {self.token}", "Content-Type": "application/sdp"},
        ) as response:
            assert response.status == 201, await response.text()
            assert response.content_type == "application/sdp"
            self.location = response.headers["Location"]
            answer = await response.text()
        await self.pc.setRemoteDescription(RTCSessionDescription(sdp=answer, type="answer"))

    async def close(self) -> None:
        await self.pc.close()


@pytest.fixture
async def lab() -> AsyncIterator[LabServer]:
    server = LabServer(LabSettings(api_key=API_KEY, secret=SECRET))
    await server.start()
    try:
        yield server
    finally:
        await asyncio.wait_for(server.stop(), WAIT)


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=WAIT)) as session:
        yield session


@pytest.fixture
def token() -> str:
    return mint_token(SECRET, "door-1", ttl_minutes=60, now=time.time())


@pytest.fixture
async def publishers(
    http: aiohttp.ClientSession, lab: LabServer, token: str
) -> AsyncIterator[Callable[[], Publisher]]:
    made: list[Publisher] = []

    def make() -> Publisher:
        publisher = Publisher(http, lab.url, token)
        made.append(publisher)
        return publisher

    try:
        yield make
    finally:
        for publisher in made:
            await asyncio.wait_for(publisher.close(), WAIT)


async def channels(http: aiohttp.ClientSession, lab: LabServer) -> dict[str, Any]:
    async with http.get(f"{lab.url}/api/channels") as response:
        assert response.status == 200
        body = await response.json()
        reports: dict[str, Any] = body["channels"]
        return reports


async def wait_for_channel(
    http: aiohttp.ClientSession,
    lab: LabServer,
    name: str,
    predicate: Callable[[dict[str, Any]], bool],
) -> dict[str, Any]:
    async def poll() -> dict[str, Any]:
        while True:
            report: dict[str, Any] | None = (await channels(http, lab)).get(name)
            if report is not None and predicate(report):
                return report
            await asyncio.sleep(0.05)

    try:
        return await asyncio.wait_for(poll(), WAIT)
    except TimeoutError:
        raise AssertionError(f"channel {name}: {(await channels(http, lab)).get(name)}") from None


def receiving(report: dict[str, Any]) -> bool:
    return bool(report["connected"] and report["framesDecoded"] > 0 and report["audioFrames"] > 0)


# --- auth and access -------------------------------------------------------------------


async def test_auth_mints_a_token_with_the_right_key(
    http: aiohttp.ClientSession, lab: LabServer
) -> None:
    async with http.post(
        f"{lab.url}/v1/auth",
        json={"user": {"id": "door-1"}, "ttl": 5},
        headers={"Authorization": f"Bearer {API_KEY}"},
    ) as response:
        assert response.status == 200
        body = await response.json()
    claims = verify_token(SECRET, body["token"], now=time.time())
    assert claims["sub"] == "door-1"
    assert 290 <= claims["exp"] - time.time() <= 301
    assert body["expiresAt"].endswith("Z")


@pytest.mark.parametrize("header", [None, "Bearer wrong-key", "Basic abc"])
async def test_auth_refuses_a_missing_or_wrong_key(
    http: aiohttp.ClientSession, lab: LabServer, header: str | None
) -> None:
    headers = {"Authorization": header} if header else {}
    async with http.post(
        f"{lab.url}/v1/auth", json={"user": {"id": "door-1"}}, headers=headers
    ) as response:
        assert response.status == 401
        assert "API key" in (await response.json())["error"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"user": {}}, "user.id"),
        ({"user": "door-1"}, "user"),
        ({"user": {"id": "door-1"}, "ttl": 0}, "ttl"),
        ({"user": {"id": "door-1"}, "ttl": 10081}, "ttl"),
        ({"user": {"id": "door-1"}, "ttl": "60"}, "ttl"),
        ([], "object"),
    ],
)
async def test_auth_names_the_bad_field(
    http: aiohttp.ClientSession, lab: LabServer, body: Any, field: str
) -> None:
    async with http.post(
        f"{lab.url}/v1/auth", json=body, headers={"Authorization": f"Bearer {API_KEY}"}
    ) as response:
        assert response.status == 400
        assert field in (await response.json())["error"]


async def test_auth_refuses_bad_json(http: aiohttp.ClientSession, lab: LabServer) -> None:
    async with http.post(
        f"{lab.url}/v1/auth", data=b"{nope", headers={"Authorization": f"Bearer {API_KEY}"}
    ) as response:
        assert response.status == 400
        assert "JSON" in (await response.json())["error"]


async def test_access_answers_with_the_whip_url(
    http: aiohttp.ClientSession, lab: LabServer, token: str
) -> None:
    async with http.post(
        f"{lab.url}/v1/video/access",
        json={"user": {"id": "door-1"}, "channel": "front-door"},
        headers={"Authorization": f"Bearer {token}"},
    ) as response:
        assert response.status == 200
        body = await response.json()
    assert body == {
        "transport": "whip",
        "url": f"{lab.url}/whip/front-door",
        "token": token,
        "iceServers": [],
    }


async def test_access_refuses_an_expired_token_saying_so(
    http: aiohttp.ClientSession, lab: LabServer
) -> None:
    stale = mint_token(SECRET, "door-1", ttl_minutes=1, now=time.time() - 3600)
    async with http.post(
        f"{lab.url}/v1/video/access",
        json={"user": {"id": "door-1"}, "channel": "front-door"},
        headers={"Authorization": f"Bearer {stale}"},
    ) as response:
        assert response.status == 401
        assert "expired at" in (await response.json())["error"]


@pytest.mark.parametrize("channel", ["", "a" * 65, "front door", "../x", 7, None])
async def test_access_refuses_a_bad_channel_name(
    http: aiohttp.ClientSession, lab: LabServer, token: str, channel: Any
) -> None:
    async with http.post(
        f"{lab.url}/v1/video/access",
        json={"user": {"id": "door-1"}, "channel": channel},
        headers={"Authorization": f"Bearer {token}"},
    ) as response:
        assert response.status == 400
        assert "channel" in (await response.json())["error"]


async def test_access_refuses_another_users_token(
    http: aiohttp.ClientSession, lab: LabServer, token: str
) -> None:
    async with http.post(
        f"{lab.url}/v1/video/access",
        json={"user": {"id": "door-2"}, "channel": "front-door"},
        headers={"Authorization": f"Bearer {token}"},
    ) as response:
        assert response.status == 403


# --- WHIP ingest -----------------------------------------------------------------------


async def test_publish_then_kick_closes_the_publisher(
    http: aiohttp.ClientSession, lab: LabServer, publishers: Callable[[], Publisher]
) -> None:
    publisher = publishers()
    await publisher.publish("front-door")
    assert publisher.location is not None
    assert publisher.location.startswith("/whip/front-door/")

    report = await wait_for_channel(http, lab, "front-door", receiving)
    assert (report["width"], report["height"]) == (320, 240)
    assert report["sessions"] == 1
    assert report["lastError"] is None

    async with http.post(
        f"{lab.url}/api/channels/front-door/kick", headers={"Authorization": "Bearer nope"}
    ) as response:
        assert response.status == 401
    async with http.post(
        f"{lab.url}/api/channels/front-door/kick", headers={"Authorization": f"Bearer {API_KEY}"}
    ) as response:
        assert response.status == 200

    # The server's DTLS close reaches the publisher, whose aiortc then closes itself.
    await asyncio.wait_for(publisher.closed.wait(), WAIT)
    report = (await channels(http, lab))["front-door"]
    assert report["connected"] is False
    assert report["deletes"] == 0

    async with http.post(
        f"{lab.url}/api/channels/front-door/kick", headers={"Authorization": f"Bearer {API_KEY}"}
    ) as response:
        assert response.status == 404


async def test_delete_ends_the_session_and_is_counted(
    http: aiohttp.ClientSession, lab: LabServer, token: str, publishers: Callable[[], Publisher]
) -> None:
    publisher = publishers()
    await publisher.publish("porch")
    await wait_for_channel(http, lab, "porch", receiving)

    auth = {"Authorization": f"Bearer {token}"}
    async with http.delete(f"{lab.url}{publisher.location}") as response:
        assert response.status == 401
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
    async with http.delete(f"{lab.url}{publisher.location}", headers=auth) as response:
        assert response.status == 200
    report = (await channels(http, lab))["porch"]
    assert report["connected"] is False
    assert report["deletes"] == 1
    await asyncio.wait_for(publisher.closed.wait(), WAIT)

    async with http.delete(f"{lab.url}{publisher.location}", headers=auth) as response:
        assert response.status == 404
    async with http.delete(f"{lab.url}/whip/nowhere/abc", headers=auth) as response:
        assert response.status == 404


async def test_a_new_session_replaces_the_old_one(
    http: aiohttp.ClientSession, lab: LabServer, publishers: Callable[[], Publisher]
) -> None:
    first = publishers()
    await first.publish("gate")
    await wait_for_channel(http, lab, "gate", receiving)

    second = publishers()
    await second.publish("gate")
    await asyncio.wait_for(first.closed.wait(), WAIT)
    frames_before = (await channels(http, lab))["gate"]["framesDecoded"]
    report = await wait_for_channel(
        http, lab, "gate", lambda r: r["connected"] and r["framesDecoded"] > frames_before + 10
    )
    assert report["sessions"] == 2


async def test_stop_closes_publishers(
    http: aiohttp.ClientSession, lab: LabServer, publishers: Callable[[], Publisher]
) -> None:
    publisher = publishers()
    await publisher.publish("lobby")
    await wait_for_channel(http, lab, "lobby", receiving)
    await asyncio.wait_for(lab.stop(), WAIT)
    await asyncio.wait_for(publisher.closed.wait(), WAIT)


async def test_fps_settles_near_the_sender_rate(
    http: aiohttp.ClientSession, lab: LabServer, publishers: Callable[[], Publisher]
) -> None:
    publisher = publishers()
    await publisher.publish("hall")
    # Over the 5 s window the rate only reaches the sender's 30 fps after 5 s; any
    # steady flow shows up well before that.
    report = await wait_for_channel(http, lab, "hall", lambda r: r["fps"] >= 5.0)
    assert report["fps"] <= 31.0


@pytest.mark.parametrize("authorization", [None, "Bearer garbage", f"Bearer {API_KEY}"])
async def test_whip_refuses_without_a_valid_token(
    http: aiohttp.ClientSession, lab: LabServer, authorization: str | None
) -> None:
    headers = {"Content-Type": "application/sdp"}
    if authorization:
        headers["Authorization"] = authorization
    async with http.post(f"{lab.url}/whip/porch", data="v=0\r\n", headers=headers) as response:
        assert response.status == 401
        assert response.headers["WWW-Authenticate"].startswith("Bearer")


async def test_whip_refuses_a_wrong_content_type(
    http: aiohttp.ClientSession, lab: LabServer, token: str
) -> None:
    async with http.post(
        f"{lab.url}/whip/porch",
        json={"sdp": "v=0"},
        headers={"Authorization": f"Bearer {token}"},
    ) as response:
        assert response.status == 415


@pytest.mark.parametrize(
    "sdp",
    [
        "",
        "hello",
        "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n",
        "v=0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\na=garbage\r\n",
    ],
)
async def test_whip_refuses_a_malformed_offer(
    http: aiohttp.ClientSession, lab: LabServer, token: str, sdp: str
) -> None:
    async with http.post(
        f"{lab.url}/whip/porch",
        data=sdp,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/sdp"},
    ) as response:
        assert response.status == 400
        error = (await response.json())["error"]
    assert "\n" not in error
    assert "SDP" in error


async def test_whip_refuses_an_oversized_offer(
    http: aiohttp.ClientSession, lab: LabServer, token: str
) -> None:
    async with http.post(
        f"{lab.url}/whip/porch",
        data="v=0\r\n" + "a=x\r\n" * 20000,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/sdp"},
    ) as response:
        assert response.status == 413


async def test_whip_refuses_a_bad_channel_name(
    http: aiohttp.ClientSession, lab: LabServer, token: str
) -> None:
    async with http.post(
        f"{lab.url}/whip/{'x' * 65}",
        data="v=0\r\n",
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/sdp"},
    ) as response:
        assert response.status == 400


async def test_index_page_lists_channels(
    http: aiohttp.ClientSession, lab: LabServer, publishers: Callable[[], Publisher]
) -> None:
    publisher = publishers()
    await publisher.publish("kiosk")
    await wait_for_channel(http, lab, "kiosk", receiving)
    async with http.get(f"{lab.url}/") as response:
        assert response.status == 200
        assert response.content_type == "text/html"
        page = await response.text()
    assert "kiosk" in page
    assert 'http-equiv="refresh"' in page


def test_fps_counts_the_last_five_seconds() -> None:
    now = [100.0]
    stats = ChannelStats(clock=lambda: now[0])
    for _ in range(32):  # 8 fps for 4 s; 1/8 s steps are exact in binary
        stats.record_video_frame(320, 240)
        now[0] += 0.125
    assert stats.fps() == 32 / 5
    now[0] += 2.0  # frames at or before 101.0 have left the window
    assert stats.fps() == 23 / 5
    now[0] += 5.0
    assert stats.fps() == 0.0
    assert stats.frames_decoded == 32


def test_settings_refuse_unusable_credentials_and_hide_them() -> None:
    with pytest.raises(ValueError, match="api_key"):
        LabSettings(api_key="", secret=SECRET)
    with pytest.raises(ValueError, match="secret"):
        LabSettings(api_key=API_KEY, secret="short")
    shown = repr(LabSettings(api_key=API_KEY, secret=SECRET))
    assert API_KEY not in shown
    assert SECRET not in shown


# --- credentials survive a restart -----------------------------------------------------


async def test_a_restarted_lab_accepts_the_tokens_it_minted(
    tmp_path: Path, http: aiohttp.ClientSession
) -> None:
    state_dir = tmp_path / "lab"
    api_key, secret = load_or_create_credentials(state_dir)
    assert load_or_create_credentials(state_dir) == (api_key, secret)
    assert stat.S_IMODE(state_dir.stat().st_mode) == 0o700
    for name in ("api_key", "secret"):
        assert stat.S_IMODE((state_dir / name).stat().st_mode) == 0o600

    first = LabServer(LabSettings(api_key=api_key, secret=secret))
    await first.start()
    try:
        async with http.post(
            f"{first.url}/v1/auth",
            json={"user": {"id": "door-1"}},
            headers={"Authorization": f"Bearer {api_key}"},
        ) as response:
            token = (await response.json())["token"]
    finally:
        await asyncio.wait_for(first.stop(), WAIT)

    second = LabServer(LabSettings(*load_or_create_credentials(state_dir)))
    await second.start()
    try:
        async with http.post(
            f"{second.url}/v1/video/access",
            json={"user": {"id": "door-1"}, "channel": "front-door"},
            headers={"Authorization": f"Bearer {token}"},
        ) as response:
            assert response.status == 200
    finally:
        await asyncio.wait_for(second.stop(), WAIT)
