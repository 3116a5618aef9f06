"""The keep-alive session, driven through the public AloVideo on fake time.

Each test scripts what the transport does on each attempt and asserts the whole
``onConnectionChange`` / ``onDisconnect`` sequence an ALO application would see.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import jwt
import pytest

from alo_edge.api import AloVideo, VideoUser
from alo_edge.config import Config, config_from_dict
from alo_edge.errors import AuthError, ConfigError, HardwareError, TransportError
from alo_edge.media.synthetic import SyntheticAudioSource, SyntheticVideoSource
from alo_edge.session.states import ConnectionState, is_allowed
from alo_edge.transport.base import Access, PublishedTracks
from tests.fakes import FakeClock, InMemoryConnection, InMemoryTransport, StateRecorder

URL = "http://127.0.0.1:9/whip/front"
USER = VideoUser("door-1", "Front door")
USER_DICT = {"id": "door-1", "name": "Front door"}
CLOCK_WALL = 1_700_000_000.0
KEY = "unit-test-hs256-key-0123456789abcdef"
TOKEN = jwt.encode({"sub": "door-1", "exp": int(CLOCK_WALL) + 86_400}, KEY, algorithm="HS256")
EXPIRED = jwt.encode({"sub": "door-1", "exp": int(CLOCK_WALL) - 60}, KEY, algorithm="HS256")

ACQ, CONNECTING, CONNECTED = "ACQUIRING_ACCESS", "CONNECTING", "CONNECTED"
ERROR, PENDING, DISCONNECTED = "ERROR", "RECONNECT_PENDING", "DISCONNECTED"
ERROR_EVENTS = [ERROR, "onDisconnect(ERROR)"]
UP = [ACQ, CONNECTING, CONNECTED]
#: An attempt that failed before CONNECTED, and the countdown that follows it.
FAILED_ATTEMPT = [ACQ, CONNECTING, *ERROR_EVENTS, PENDING]
ALO_KEYS = {"state", "user", "stateMessage", "message", "pendingRestartSeconds", "retryCount"}


def make_config(**reconnect: float) -> Config:
    return config_from_dict(
        {
            "device": {"user_id": "door-1", "name": "Front door"},
            "alo": {"url": URL, "channel": "front"},
            "reconnect": reconnect,
        }
    )


MakeVideo = Callable[..., AloVideo]


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(wall=CLOCK_WALL)


@pytest.fixture
async def make_video(clock: FakeClock) -> AsyncIterator[MakeVideo]:
    """AloVideo factory on the fake clock; every session is disconnected after.

    ``random_source`` 0.0 draws the longest wait of each window: the whole window, the
    exact cap for auth failures and the exact Retry-After, so the countdowns are whole.
    """
    videos: list[AloVideo] = []

    def make(
        transport: InMemoryTransport,
        token: Any = TOKEN,
        config: Config | None = None,
        **options: Any,
    ) -> AloVideo:
        video = AloVideo(
            USER,
            token,
            config=config or make_config(),
            transports={"whip": transport},
            clock=clock,
            random_source=lambda: 0.0,
            **options,
        )
        videos.append(video)
        return video

    yield make
    clock.release()
    for video in videos:
        try:
            await video.disconnect()
        except Exception:
            # A loop that ended on a fatal error re-raises it from the first disconnect()
            # (see test_disconnect_after_a_fatal_error_reports_disconnected); the second
            # one releases the HTTP session so no other test sees an unclosed-session warning.
            await video.disconnect()


async def connected(
    make_video: MakeVideo, *outcomes: Any, **options: Any
) -> tuple[AloVideo, StateRecorder, InMemoryTransport]:
    """A session that reached CONNECTED on its first attempt, then plays ``outcomes``."""
    first = outcomes[0] if outcomes else InMemoryConnection("first")
    transport = InMemoryTransport(first, *outcomes[1:])
    video = make_video(transport, **options)
    recorder = StateRecorder(video)
    await video.connect("front")
    await recorder.wait_for_state(CONNECTED)
    return video, recorder, transport


# --- connecting ------------------------------------------------------------------------


async def test_connect_goes_through_access_and_connecting_to_connected(
    make_video: MakeVideo,
) -> None:
    video, recorder, transport = await connected(make_video)
    assert recorder.timeline == UP
    assert video.connection_state == CONNECTED
    assert transport.opened == [Access("whip", URL, TOKEN)]
    assert recorder.disconnects == []


async def test_connect_returns_at_once_before_the_connection_is_up(
    make_video: MakeVideo,
) -> None:
    transport = InMemoryTransport()  # the server does not answer yet
    video = make_video(transport)
    recorder = StateRecorder(video)
    channel = await video.connect("front")
    assert channel.name == "front"
    assert video.channel == channel
    await recorder.wait_for(lambda: len(transport.opened) == 1)
    assert recorder.timeline == [ACQ, CONNECTING]
    transport.script(InMemoryConnection())
    await recorder.wait_for_state(CONNECTED)


async def test_opaque_token_is_the_bearer(make_video: MakeVideo) -> None:
    _, _, transport = await connected(make_video, token="opaque-device-token")
    assert [access.token for access in transport.opened] == ["opaque-device-token"]


async def test_connecting_to_a_second_channel_needs_a_disconnect_first(
    make_video: MakeVideo,
) -> None:
    video, _, _ = await connected(make_video)
    with pytest.raises(ConfigError, match="already connected to 'front'"):
        await video.connect("back")


async def test_connect_again_after_disconnect_starts_a_new_session(
    make_video: MakeVideo,
) -> None:
    video, recorder, transport = await connected(make_video)
    await video.disconnect()
    transport.script(InMemoryConnection("again"))
    await video.connect("front")
    await recorder.wait_for_state(CONNECTED, count=2)
    assert recorder.timeline == [*UP, DISCONNECTED, "onDisconnect(DISCONNECTED)", *UP]


# --- losing the link -----------------------------------------------------------------------


async def test_lost_link_reports_error_then_retries_within_the_initial_delay(
    make_video: MakeVideo, clock: FakeClock
) -> None:
    first, second = InMemoryConnection("first"), InMemoryConnection("second")
    video, recorder, _ = await connected(make_video, first, second)
    first.lose("no receiver report for 8 s")
    await recorder.wait_for_state(CONNECTED, count=2)
    assert recorder.timeline == [*UP, *ERROR_EVENTS, PENDING, *UP]
    assert recorder.of_state(ERROR)[0]["message"] == "no receiver report for 8 s"
    assert recorder.disconnects == [
        {"state": ERROR, "user": USER_DICT, "message": "no receiver report for 8 s"}
    ]
    assert recorder.countdown == [(1, 1)]
    assert clock.sleeps == [1.0]
    assert video.connection_state == CONNECTED


async def test_second_consecutive_failure_waits_up_to_two_seconds(
    make_video: MakeVideo, clock: FakeClock
) -> None:
    first = InMemoryConnection("first")
    _, recorder, _ = await connected(
        make_video, first, TransportError("WHIP endpoint answered HTTP 503"), InMemoryConnection()
    )
    first.lose()
    await recorder.wait_for_state(CONNECTED, count=2)
    assert recorder.timeline == [*UP, *ERROR_EVENTS, PENDING, *FAILED_ATTEMPT, PENDING, *UP]
    assert recorder.countdown == [(1, 1), (2, 2), (1, 2)]
    assert clock.sleeps == [1.0] * 3


async def test_countdown_is_emitted_once_per_second_with_a_rising_retry_count(
    make_video: MakeVideo, clock: FakeClock
) -> None:
    first = InMemoryConnection("first")
    failures = [TransportError(f"HTTP 503 #{i}") for i in range(3)]
    _, recorder, _ = await connected(make_video, first, *failures, InMemoryConnection())
    first.lose()
    await recorder.wait_for_state(CONNECTED, count=2)
    assert recorder.countdown == [
        (1, 1),
        (2, 2), (1, 2),
        (4, 3), (3, 3), (2, 3), (1, 3),
        (8, 4), (7, 4), (6, 4), (5, 4), (4, 4), (3, 4), (2, 4), (1, 4),
    ]  # fmt: skip
    assert clock.sleeps == [1.0] * 15
    assert [e["retryCount"] for e in recorder.of_state(ERROR)] == [1, 2, 3, 4]


async def test_old_connection_is_closed_before_the_next_attempt(make_video: MakeVideo) -> None:
    first, second = InMemoryConnection("first"), InMemoryConnection("second")
    _, recorder, transport = await connected(make_video, first, second)
    first.lose()
    await recorder.wait_for_state(CONNECTED, count=2)
    assert transport.journal == ["open", "close first", "open"]
    assert (first.close_count, second.close_count) == (1, 0)


async def test_link_stable_for_thirty_seconds_resets_the_backoff(
    make_video: MakeVideo, clock: FakeClock
) -> None:
    link = InMemoryConnection("link")
    transport = InMemoryTransport(TransportError("a"), TransportError("b"), link)
    video = make_video(transport)
    recorder = StateRecorder(video)
    await video.connect("front")
    await recorder.wait_for_state(CONNECTED)
    clock.advance(30)
    transport.script(InMemoryConnection())
    link.lose()
    await recorder.wait_for_state(CONNECTED, count=2)
    assert recorder.countdown == [(1, 1), (2, 2), (1, 2), (1, 1)]


async def test_link_that_failed_after_twenty_nine_seconds_keeps_backing_off(
    make_video: MakeVideo, clock: FakeClock
) -> None:
    link = InMemoryConnection("link")
    transport = InMemoryTransport(TransportError("a"), TransportError("b"), link)
    video = make_video(transport)
    recorder = StateRecorder(video)
    await video.connect("front")
    await recorder.wait_for_state(CONNECTED)
    clock.advance(29)
    transport.script(InMemoryConnection())
    link.lose()
    await recorder.wait_for_state(CONNECTED, count=2)
    assert recorder.countdown == [(1, 1), (2, 2), (1, 2), (4, 3), (3, 3), (2, 3), (1, 3)]


# --- what the server says ------------------------------------------------------------------


async def test_auth_failure_waits_at_the_cap(make_video: MakeVideo, clock: FakeClock) -> None:
    refused = AuthError("WHIP endpoint refused the token (HTTP 401)")
    transport = InMemoryTransport(refused, InMemoryConnection())
    video = make_video(transport)
    recorder = StateRecorder(video)
    await video.connect("front")
    await recorder.wait_for_state(CONNECTED)
    assert recorder.timeline == [ACQ, CONNECTING, *ERROR_EVENTS, *[PENDING] * 30, *UP]
    assert recorder.countdown == [(seconds, 1) for seconds in range(30, 0, -1)]
    assert "refused the token (HTTP 401)" in recorder.of_state(ERROR)[0]["message"]
    assert sum(clock.sleeps) == 30.0


async def test_retry_after_from_the_server_is_honoured(
    make_video: MakeVideo, clock: FakeClock
) -> None:
    busy = TransportError("WHIP endpoint answered HTTP 503", retry_after=7)
    transport = InMemoryTransport(busy, InMemoryConnection())
    video = make_video(transport)
    recorder = StateRecorder(video)
    await video.connect("front")
    await recorder.wait_for_state(CONNECTED)
    assert recorder.countdown == [(7, 1), (6, 1), (5, 1), (4, 1), (3, 1), (2, 1), (1, 1)]
    assert sum(clock.sleeps) == 7.0


async def test_expired_token_never_reaches_the_transport(
    make_video: MakeVideo, clock: FakeClock
) -> None:
    clock.hold()
    transport = InMemoryTransport(InMemoryConnection())
    video = make_video(transport, token=EXPIRED)
    recorder = StateRecorder(video)
    await video.connect("front")
    await recorder.wait_for_state(PENDING)
    assert recorder.timeline == [ACQ, *ERROR_EVENTS, PENDING]
    assert transport.opened == []
    assert "expired at 2023-11-14T22:12:20+00:00" in recorder.of_state(ERROR)[0]["message"]
    assert recorder.countdown == [(30, 1)]


async def test_rotated_token_heals_the_device_after_the_cap_wait(make_video: MakeVideo) -> None:
    tokens = iter([EXPIRED, TOKEN])
    reads: list[str] = []

    def token_file() -> str:
        reads.append(token := next(tokens))
        return token

    transport = InMemoryTransport(InMemoryConnection())
    video = make_video(transport, token=token_file)
    recorder = StateRecorder(video)
    await video.connect("front")
    await recorder.wait_for_state(CONNECTED)
    assert reads == [EXPIRED, TOKEN]
    assert transport.opened == [Access("whip", URL, TOKEN)]
    assert recorder.timeline == [ACQ, *ERROR_EVENTS, *[PENDING] * 30, *UP]


async def test_unexpected_library_error_is_retried_not_a_crash(
    make_video: MakeVideo, caplog: pytest.LogCaptureFixture
) -> None:
    transport = InMemoryTransport(RuntimeError("aiortc exploded"), InMemoryConnection())
    video = make_video(transport)
    recorder = StateRecorder(video)
    with caplog.at_level(logging.ERROR, logger="alo_edge"):
        await video.connect("front")
        await recorder.wait_for_state(CONNECTED)
    assert recorder.timeline == [*FAILED_ATTEMPT, *UP]
    assert "aiortc exploded" in recorder.of_state(ERROR)[0]["message"]
    assert any(r.exc_info and "aiortc exploded" in str(r.exc_info[1]) for r in caplog.records)
    task = video.supervisor_task
    assert task is not None
    assert not task.done()


async def test_a_hardware_error_ends_the_session_with_error(make_video: MakeVideo) -> None:
    fatal = HardwareError("camera /dev/video0 is gone")
    transport = InMemoryTransport(fatal, InMemoryConnection("never"))
    video = make_video(transport)
    recorder = StateRecorder(video)
    await video.connect("front")
    task = video.supervisor_task
    assert task is not None
    await recorder.wait_for(task.done)
    assert recorder.timeline == [ACQ, CONNECTING, *ERROR_EVENTS]
    assert recorder.of_state(ERROR)[0]["message"] == str(fatal)
    assert task.exception() is fatal
    assert len(transport.opened) == 1


async def test_a_config_error_during_an_attempt_is_retried_not_fatal(
    make_video: MakeVideo,
) -> None:
    # Only the config file at start may stop the service (exit 78). A ConfigError raised
    # while connecting came from what a server said (73a265e: a Janus access answer
    # without a room, a bad WHIP Link ICE URL), and systemd never restarts an exit 78.
    bad = ConfigError("is required: the channel is not a number", key="alo.room")
    transport = InMemoryTransport(bad, InMemoryConnection("second"))
    video = make_video(transport)
    recorder = StateRecorder(video)
    await video.connect("front")
    await recorder.wait_for_state(CONNECTED)
    assert recorder.timeline == [*FAILED_ATTEMPT, *UP]
    assert "alo.room" in recorder.of_state(ERROR)[0]["message"]
    task = video.supervisor_task
    assert task is not None
    assert not task.done()


async def test_disconnect_after_a_fatal_error_reports_disconnected(
    make_video: MakeVideo,
) -> None:
    # The service's shutdown path calls disconnect() after the loop ended on a fatal error.
    transport = InMemoryTransport(HardwareError("camera /dev/video0 is gone"))
    video = make_video(transport)
    recorder = StateRecorder(video)
    await video.connect("front")
    task = video.supervisor_task
    assert task is not None
    await recorder.wait_for(task.done)
    await video.disconnect()
    assert recorder.timeline == [
        ACQ,
        CONNECTING,
        *ERROR_EVENTS,
        DISCONNECTED,
        "onDisconnect(DISCONNECTED)",
    ]
    assert video.connection_state == DISCONNECTED


async def test_session_keeps_retrying_through_a_night_long_outage(
    make_video: MakeVideo,
) -> None:
    # With a 1 s cap the sequence is cheap to run; the count of failures is what matters:
    # at the default 30 s cap, 1100 failures are about nine hours without the server.
    failures = [TransportError(f"HTTP 503 #{i}") for i in range(1100)]
    transport = InMemoryTransport(*failures, InMemoryConnection("morning"))
    video = make_video(transport, config=make_config(initial_delay=1, max_delay=1))
    recorder = StateRecorder(video)
    await video.connect("front")
    task = video.supervisor_task
    assert task is not None
    await recorder.wait_for(lambda: recorder.state == CONNECTED or task.done())
    assert not task.done(), f"the session gave up: {task.exception()!r}"
    assert recorder.state == CONNECTED
    assert len(transport.opened) == 1101


# --- reconnect on request (button hold, network back) ---------------------------------------


async def test_reconnect_now_cuts_a_pending_wait_short(
    make_video: MakeVideo, clock: FakeClock
) -> None:
    first = InMemoryConnection("first")
    video, recorder, _ = await connected(make_video, first, InMemoryConnection("second"))
    clock.hold()  # without the wake-up, the 1 s wait would never end
    first.lose()
    await recorder.wait_for(lambda: recorder.countdown == [(1, 1)])
    before = clock.monotonic()
    video.reconnect_now()
    await recorder.wait_for_state(CONNECTED, count=2)
    assert recorder.timeline[-4:] == [PENDING, *UP]
    assert clock.monotonic() == before


async def test_reconnect_now_while_connected_replaces_the_connection_without_an_error(
    make_video: MakeVideo,
) -> None:
    first, second = InMemoryConnection("first"), InMemoryConnection("second")
    video, recorder, transport = await connected(make_video, first, second)
    video.reconnect_now()
    await recorder.wait_for_state(CONNECTED, count=2)
    assert recorder.timeline == [*UP, PENDING, *UP]
    assert recorder.countdown == [(0, 0)]
    assert recorder.disconnects == []
    assert transport.journal == ["open", "close first", "open"]


# --- disconnecting -------------------------------------------------------------------------


async def test_disconnect_while_connected_leaves_and_reports_disconnected(
    make_video: MakeVideo,
) -> None:
    link = InMemoryConnection("link")
    video, recorder, _ = await connected(make_video, link)
    await video.disconnect()
    assert recorder.timeline == [*UP, DISCONNECTED, "onDisconnect(DISCONNECTED)"]
    assert recorder.disconnects == [{"state": DISCONNECTED, "user": USER_DICT}]
    assert link.close_count == 1
    assert video.connection_state == DISCONNECTED
    assert video.channel is None


async def test_disconnect_during_the_countdown_stops_retrying(
    make_video: MakeVideo, clock: FakeClock
) -> None:
    first = InMemoryConnection("first")
    video, recorder, transport = await connected(make_video, first, InMemoryConnection("would-be"))
    clock.hold()  # catch the session inside its 1 s wait
    first.lose()
    await recorder.wait_for(lambda: recorder.countdown == [(1, 1)])
    await video.disconnect()
    clock.release()
    for _ in range(20):  # give a loop that wrongly survived every chance to try again
        await asyncio.sleep(0)
    assert recorder.timeline == [
        *UP,
        *ERROR_EVENTS,
        PENDING,
        DISCONNECTED,
        "onDisconnect(DISCONNECTED)",
    ]
    assert len(transport.opened) == 1
    assert video.connection_state == DISCONNECTED


async def test_disconnect_before_connect_reports_disconnected(make_video: MakeVideo) -> None:
    transport = InMemoryTransport()
    video = make_video(transport)
    recorder = StateRecorder(video)
    await video.disconnect()
    assert recorder.timeline == [DISCONNECTED, "onDisconnect(DISCONNECTED)"]
    assert transport.opened == []


# --- publishing ---------------------------------------------------------------------------


@pytest.fixture
def sources() -> Iterator[tuple[SyntheticVideoSource, SyntheticAudioSource]]:
    video, audio = SyntheticVideoSource(64, 48, 5), SyntheticAudioSource()
    yield video, audio
    video.stop()
    audio.stop()


async def test_first_connection_publishes_both_tracks(
    make_video: MakeVideo, sources: tuple[SyntheticVideoSource, SyntheticAudioSource]
) -> None:
    camera, microphone = sources
    _, _, transport = await connected(make_video, video_source=camera, audio_source=microphone)
    assert transport.tracks == [PublishedTracks(video=camera.track, audio=microphone.track)]


async def test_stop_sending_video_on_a_live_connection_keeps_the_audio(
    make_video: MakeVideo, sources: tuple[SyntheticVideoSource, SyntheticAudioSource]
) -> None:
    camera, microphone = sources
    link = InMemoryConnection("link")
    video, recorder, transport = await connected(
        make_video, link, video_source=camera, audio_source=microphone
    )
    await video.publish_stream(send_video=False)
    assert link.replaced == [PublishedTracks(video=None, audio=microphone.track)]
    assert len(transport.opened) == 1  # no reconnect
    assert recorder.timeline == UP


async def test_publish_choice_survives_a_reconnect(
    make_video: MakeVideo, sources: tuple[SyntheticVideoSource, SyntheticAudioSource]
) -> None:
    camera, microphone = sources
    first = InMemoryConnection("first")
    video, recorder, transport = await connected(
        make_video,
        first,
        InMemoryConnection("second"),
        video_source=camera,
        audio_source=microphone,
    )
    await video.publish_stream(send_video=False)
    first.lose()
    await recorder.wait_for_state(CONNECTED, count=2)
    assert transport.tracks[1] == PublishedTracks(video=None, audio=microphone.track)


async def test_unpublish_stops_both_kinds_but_keeps_offering_them(
    make_video: MakeVideo, sources: tuple[SyntheticVideoSource, SyntheticAudioSource]
) -> None:
    camera, microphone = sources
    link = InMemoryConnection("link")
    video, _, _ = await connected(make_video, link, video_source=camera, audio_source=microphone)
    await video.unpublish_stream()
    await video.publish_stream()
    assert link.replaced == [
        PublishedTracks(video=None, audio=None, offer_video=True, offer_audio=True),
        PublishedTracks(video=camera.track, audio=microphone.track),
    ]


async def test_publish_before_connecting_applies_to_the_first_connection(
    make_video: MakeVideo, sources: tuple[SyntheticVideoSource, SyntheticAudioSource]
) -> None:
    camera, microphone = sources
    transport = InMemoryTransport(InMemoryConnection())
    video = make_video(transport, video_source=camera, audio_source=microphone)
    recorder = StateRecorder(video)
    await video.publish_stream(send_audio=False)
    await video.connect("front")
    await recorder.wait_for_state(CONNECTED)
    assert transport.tracks == [PublishedTracks(video=camera.track, audio=None)]


# --- what the events carry ------------------------------------------------------------------


async def scenario_with_every_state(
    make_video: MakeVideo,
) -> tuple[AloVideo, StateRecorder]:
    first = InMemoryConnection("first")
    video, recorder, _ = await connected(
        make_video,
        first,
        TransportError("HTTP 503"),
        AuthError("refused (HTTP 401)"),
        InMemoryConnection("second"),
    )
    first.lose("link dead")
    await recorder.wait_for_state(CONNECTED, count=2)
    await video.disconnect()
    return video, recorder


async def test_event_payload_keys_are_exactly_alos(make_video: MakeVideo) -> None:
    _, recorder = await scenario_with_every_state(make_video)
    keys_by_state = {change["state"]: set(change) for change in recorder.changes}
    assert keys_by_state == {
        ACQ: {"state", "user", "stateMessage"},
        CONNECTING: {"state", "user", "stateMessage"},
        CONNECTED: {"state", "user", "stateMessage"},
        ERROR: {"state", "user", "stateMessage", "message", "retryCount"},
        PENDING: {"state", "user", "stateMessage", "pendingRestartSeconds", "retryCount"},
        DISCONNECTED: {"state", "user", "stateMessage"},
    }
    assert all(set(change) <= ALO_KEYS for change in recorder.changes)
    assert [set(d) for d in recorder.disconnects] == [{"state", "user", "message"}] * 3 + [
        {"state", "user"}
    ]


async def test_every_event_names_the_user_and_a_readable_state_message(
    make_video: MakeVideo,
) -> None:
    _, recorder = await scenario_with_every_state(make_video)
    assert all(change["user"] == USER_DICT for change in recorder.changes)
    assert all(d["user"] == USER_DICT for d in recorder.disconnects)
    messages = {change["state"]: change["stateMessage"] for change in recorder.changes}
    assert messages[CONNECTED] == "connected"
    assert messages[PENDING] == "reconnecting"
    assert all(isinstance(m, str) and m for m in messages.values())


async def test_every_reported_transition_is_in_the_state_table(
    make_video: MakeVideo, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR, logger="alo_edge"):
        _, recorder = await scenario_with_every_state(make_video)
    states = [ConnectionState.NOT_CONNECTED, *map(ConnectionState, recorder.states)]
    assert [(a.value, b.value) for a, b in itertools.pairwise(states) if not is_allowed(a, b)] == []
    assert not [r for r in caplog.records if "not in the table" in r.getMessage()]
