"""Tokens that renew themselves (alo.token_url), driven on stepped fake time.

The token source's clock only moves when a test advances it, so "renewed at 80 % of the
lifetime" and "retried 1, 2, 4 s later" are exact; the session around it runs on the
usual instant fake clock. The endpoint is a script of grants and errors.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import AsyncIterator, Callable

import pytest

from alo_edge.api import AloVideo, VideoUser
from alo_edge.config import ReconnectConfig, config_from_dict
from alo_edge.errors import AloEdgeError, AuthError, TokenRejectedError, TransportError
from alo_edge.session.backoff import ReconnectPolicy
from alo_edge.session.client_credentials import ClientCredentials
from alo_edge.transport.oauth import TokenGrant, parse_token_answer
from tests.fakes import FakeClock, InMemoryConnection, InMemoryTransport, StateRecorder

NOW = 1_700_000_000.0
LIFETIME = 600.0
URL = "http://127.0.0.1:9/whip/front"
ACQ, CONNECTING, CONNECTED = "ACQUIRING_ACCESS", "CONNECTING", "CONNECTED"
ERROR, PENDING = "ERROR", "RECONNECT_PENDING"
UP = [ACQ, CONNECTING, CONNECTED]


class SteppedClock:
    """The Clock protocol on time that moves only when :meth:`advance` moves it."""

    def __init__(self, wall: float = NOW) -> None:
        self._now = wall
        self._tick = asyncio.Event()

    def monotonic(self) -> float:
        return self._now

    def wall(self) -> float:
        return self._now

    async def sleep(self, seconds: float) -> None:
        until = self._now + seconds
        while self._now < until:
            await self._tick.wait()

    async def advance(self, seconds: float, step: float = 1.0) -> None:
        """Let ``seconds`` pass, ``step`` at a time, letting every waiter run at each step."""
        end = self._now + seconds
        while self._now < end:
            self._now = min(self._now + step, end)
            tick, self._tick = self._tick, asyncio.Event()
            tick.set()
            for _ in range(20):
                await asyncio.sleep(0)


Outcome = TokenGrant | AloEdgeError


class ScriptedEndpoint:
    """A TokenGrantSource playing a script; when it runs out, a fetch waits for more."""

    def __init__(self, clock: SteppedClock, *outcomes: Outcome) -> None:
        self._clock = clock
        self._outcomes: deque[Outcome] = deque(outcomes)
        self._more = asyncio.Event()
        #: The time of every fetch, in order.
        self.fetched_at: list[float] = []
        self.closed = False

    def script(self, *outcomes: Outcome) -> None:
        self._outcomes.extend(outcomes)
        self._more.set()

    async def fetch(self) -> TokenGrant:
        self.fetched_at.append(self._clock.wall() - NOW)
        while not self._outcomes:
            self._more.clear()
            await self._more.wait()
        outcome = self._outcomes.popleft()
        if isinstance(outcome, AloEdgeError):
            raise outcome
        return outcome

    async def close(self) -> None:
        self.closed = True


def grant(n: int, lifetime: float = LIFETIME) -> TokenGrant:
    return TokenGrant(f"token-{n}", lifetime)


def down() -> TransportError:
    return TransportError("token endpoint http://127.0.0.1:9/token unreachable: refused")


def bad_answer() -> AloEdgeError:
    try:
        parse_token_answer(200, b'{"access_token": "x", "token_type": "Bearer", "expires_in": 0}')
    except AloEdgeError as exc:
        return exc
    raise AssertionError("a zero expires_in was accepted")


async def until(predicate: Callable[[], bool], turns: int = 10_000) -> None:
    for _ in range(turns):
        if predicate():
            return
        await asyncio.sleep(0)
    raise AssertionError("condition not met")


@pytest.fixture
def clock() -> SteppedClock:
    return SteppedClock()


@pytest.fixture
async def source(clock: SteppedClock) -> AsyncIterator[Callable[..., ClientCredentials]]:
    made: list[ClientCredentials] = []

    def make(endpoint: ScriptedEndpoint) -> ClientCredentials:
        policy = ReconnectPolicy(ReconnectConfig(), lambda: 0.0)  # each wait its whole window
        credentials = ClientCredentials(endpoint, clock, policy)
        made.append(credentials)
        return credentials

    yield make
    for credentials in made:
        await credentials.stop()


# --- the token source on its own ----------------------------------------------------------


async def test_the_first_attempt_fetches_a_token_and_later_attempts_reuse_it(
    clock: SteppedClock, source: Callable[..., ClientCredentials]
) -> None:
    endpoint = ScriptedEndpoint(clock, grant(1))
    credentials = source(endpoint)
    await credentials.start()

    assert await credentials.bearer() == "token-1"
    await clock.advance(100)
    assert await credentials.bearer() == "token-1"

    assert endpoint.fetched_at == [0]
    state = credentials.state()
    assert (state.source, state.expires_at, state.renew_at) == (
        "client_credentials",
        NOW + 600,
        NOW + 480,
    )


async def test_the_token_is_renewed_in_the_background_at_80_percent_of_its_life(
    clock: SteppedClock, source: Callable[..., ClientCredentials]
) -> None:
    endpoint = ScriptedEndpoint(clock, grant(1), grant(2), grant(3))
    credentials = source(endpoint)
    await credentials.start()
    await credentials.bearer()

    await clock.advance(479, step=30)
    assert endpoint.fetched_at == [0]
    await clock.advance(1)
    await until(lambda: credentials.state().renewals == 2)
    assert await credentials.bearer() == "token-2"  # without asking the endpoint
    await clock.advance(480, step=30)
    await until(lambda: credentials.state().renewals == 3)

    assert endpoint.fetched_at == [0, 480, 960]


async def test_a_failing_endpoint_is_retried_with_backoff_and_a_warning_near_expiry(
    clock: SteppedClock,
    source: Callable[..., ClientCredentials],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, "alo_edge.session.client_credentials")
    endpoint = ScriptedEndpoint(clock, grant(1), *[down() for _ in range(8)], grant(2))
    credentials = source(endpoint)
    await credentials.start()
    await credentials.bearer()

    await clock.advance(539)
    # 1, 2, 4, 8, 16, 30 s apart: the connection backoff (each wait its whole window here).
    assert endpoint.fetched_at == [0, 480, 481, 483, 487, 495, 511]
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert await credentials.bearer() == "token-1"  # still valid: the session is untouched

    await clock.advance(31)  # the retry at 541: 59 s of 600 left
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1, warnings
    assert "token renewal keeps failing (7 attempts)" in warnings[0]
    assert "the token expires at 2023-11-14T22:23:20+00:00" in warnings[0]
    assert "unreachable" in warnings[0]
    state = credentials.state()
    assert (state.failures, state.renewals) == (7, 1)
    assert state.last_error is not None
    assert "unreachable" in state.last_error

    await clock.advance(60)  # the retry at 571 fails, the one at 601 succeeds
    await until(lambda: credentials.state().renewals == 2)
    assert endpoint.fetched_at[-2:] == [571, 601]
    assert credentials.state().failures == 0


async def test_refused_client_credentials_are_retried_at_the_cap(
    clock: SteppedClock, source: Callable[..., ClientCredentials]
) -> None:
    refused = AuthError("token endpoint refused the client credentials (HTTP 401)")
    endpoint = ScriptedEndpoint(clock, grant(1), refused, refused, grant(2))
    credentials = source(endpoint)
    await credentials.start()
    await credentials.bearer()

    await clock.advance(540)
    await until(lambda: credentials.state().renewals == 2)

    assert endpoint.fetched_at == [0, 480, 510, 540]


async def test_a_token_close_to_expiry_is_never_handed_out(
    clock: SteppedClock, source: Callable[..., ClientCredentials]
) -> None:
    endpoint = ScriptedEndpoint(clock, grant(1, lifetime=60.0))
    credentials = source(endpoint)
    await credentials.bearer()  # not started: nothing renews it
    await clock.advance(57)  # 3 s left, the margin is 5 % of 60 s

    fetch = asyncio.ensure_future(credentials.bearer())
    await until(lambda: len(endpoint.fetched_at) == 2)
    assert not fetch.done()
    endpoint.script(grant(2))
    assert await fetch == "token-2"


async def test_stop_ends_the_renewal_task_and_closes_the_endpoint(
    clock: SteppedClock, source: Callable[..., ClientCredentials]
) -> None:
    endpoint = ScriptedEndpoint(clock, grant(1))
    credentials = source(endpoint)
    await credentials.start()
    await credentials.bearer()

    await credentials.stop()
    await clock.advance(1000, step=100)

    assert endpoint.closed
    assert endpoint.fetched_at == [0]


# --- the token source in a session ----------------------------------------------------------


@pytest.fixture
async def session(
    clock: SteppedClock, source: Callable[..., ClientCredentials]
) -> AsyncIterator[Callable[..., tuple[AloVideo, FakeClock]]]:
    videos: list[AloVideo] = []

    def make(
        endpoint: ScriptedEndpoint, transport: InMemoryTransport
    ) -> tuple[AloVideo, FakeClock]:
        session_clock = FakeClock(wall=NOW)
        config = config_from_dict(
            {"device": {"user_id": "door-1"}, "alo": {"url": URL, "channel": "front"}}
        )
        video = AloVideo(
            VideoUser("door-1"),
            source(endpoint),
            config=config,
            transports={"whip": transport},
            clock=session_clock,
            random_source=lambda: 0.0,
        )
        videos.append(video)
        return video, session_clock

    yield make
    for video in videos:
        await video.disconnect()


async def test_renewal_while_connected_leaves_the_session_alone_and_feeds_the_reconnect(
    clock: SteppedClock, session: Callable[..., tuple[AloVideo, FakeClock]]
) -> None:
    endpoint = ScriptedEndpoint(clock, grant(1), grant(2))
    first, second = InMemoryConnection("first"), InMemoryConnection("second")
    transport = InMemoryTransport(first, second)
    video, _ = session(endpoint, transport)
    recorder = StateRecorder(video)
    await video.connect("front")
    await recorder.wait_for_state(CONNECTED)

    await clock.advance(480, step=30)
    await until(lambda: len(endpoint.fetched_at) == 2)
    assert recorder.timeline == UP  # nothing happened to the session
    assert not first.closed

    first.lose("kicked")
    await recorder.wait_for_state(CONNECTED, count=2)

    assert [access.token for access in transport.opened] == ["token-1", "token-2"]
    assert endpoint.fetched_at == [0, 480]  # the reconnect did not wait for a fetch


async def test_a_failing_endpoint_never_drops_a_live_session(
    clock: SteppedClock, session: Callable[..., tuple[AloVideo, FakeClock]]
) -> None:
    endpoint = ScriptedEndpoint(clock, grant(1), *[down() for _ in range(30)])
    connection = InMemoryConnection()
    video, _ = session(endpoint, InMemoryTransport(connection))
    recorder = StateRecorder(video)
    await video.connect("front")
    await recorder.wait_for_state(CONNECTED)

    await clock.advance(900, step=10)  # past the expiry, the endpoint down all along

    assert len(endpoint.fetched_at) > 10
    assert recorder.timeline == UP
    assert not connection.closed


async def test_a_reconnect_after_expiry_fetches_a_fresh_token_and_never_sends_the_old(
    clock: SteppedClock, session: Callable[..., tuple[AloVideo, FakeClock]]
) -> None:
    endpoint = ScriptedEndpoint(clock, grant(1), *[down() for _ in range(30)])
    first = InMemoryConnection("first")
    transport = InMemoryTransport(first, InMemoryConnection("second"))
    video, _ = session(endpoint, transport)
    recorder = StateRecorder(video)
    await video.connect("front")
    await recorder.wait_for_state(CONNECTED)
    await clock.advance(700, step=10)
    assert endpoint.fetched_at[-1] < 700

    endpoint.script(grant(2))
    first.lose("the server ended the session: its token expired")
    await recorder.wait_for_state(CONNECTED, count=2)

    assert [access.token for access in transport.opened] == ["token-1", "token-2"]


async def test_a_bad_endpoint_answer_is_an_error_naming_the_field_and_is_retried(
    clock: SteppedClock, session: Callable[..., tuple[AloVideo, FakeClock]]
) -> None:
    endpoint = ScriptedEndpoint(clock, bad_answer(), grant(1))
    transport = InMemoryTransport(InMemoryConnection())
    video, _session_clock = session(endpoint, transport)
    recorder = StateRecorder(video)
    await video.connect("front")
    await recorder.wait_for_state(CONNECTED)

    assert recorder.timeline == [ACQ, ERROR, "onDisconnect(ERROR)", PENDING, *UP]
    message = recorder.of_state(ERROR)[0]["message"]
    assert "'expires_in' is 0; expected a positive number" in message
    # Retried like any failed attempt: within the first backoff window (1 s).
    assert recorder.countdown == [(1, 1)]
    assert [access.token for access in transport.opened] == ["token-1"]


async def test_a_401_fetches_a_fresh_token_at_once_and_retries_without_waiting(
    clock: SteppedClock, session: Callable[..., tuple[AloVideo, FakeClock]]
) -> None:
    endpoint = ScriptedEndpoint(clock, grant(1), grant(2))
    refused = TokenRejectedError("WHIP endpoint refused the token (HTTP 401)")
    transport = InMemoryTransport(refused, InMemoryConnection())
    video, session_clock = session(endpoint, transport)
    recorder = StateRecorder(video)
    await video.connect("front")
    await recorder.wait_for_state(CONNECTED)

    assert recorder.timeline == [ACQ, CONNECTING, ERROR, "onDisconnect(ERROR)", PENDING, *UP]
    assert recorder.countdown == [(0, 1)]
    assert sum(session_clock.sleeps) == 0.0
    assert [access.token for access in transport.opened] == ["token-1", "token-2"]
    assert endpoint.fetched_at == [0, 0]


async def test_a_second_401_in_a_row_waits_at_the_cap(
    clock: SteppedClock, session: Callable[..., tuple[AloVideo, FakeClock]]
) -> None:
    endpoint = ScriptedEndpoint(clock, grant(1), grant(2))
    refused = TokenRejectedError("WHIP endpoint refused the token (HTTP 401)")
    transport = InMemoryTransport(refused, refused, InMemoryConnection())
    video, _session_clock = session(endpoint, transport)
    recorder = StateRecorder(video)
    await video.connect("front")
    await recorder.wait_for_state(CONNECTED)

    assert recorder.countdown[0] == (0, 1)
    assert recorder.countdown[1:] == [(s, 2) for s in range(30, 0, -1)]
    assert [access.token for access in transport.opened] == ["token-1", "token-2", "token-2"]
    assert len(endpoint.fetched_at) == 2


async def test_a_401_with_a_token_file_that_still_holds_the_token_waits_at_the_cap() -> None:
    session_clock = FakeClock(wall=NOW)
    refused = TokenRejectedError("WHIP endpoint refused the token (HTTP 401)")
    transport = InMemoryTransport(refused, InMemoryConnection())
    config = config_from_dict(
        {"device": {"user_id": "door-1"}, "alo": {"url": URL, "channel": "front"}}
    )
    video = AloVideo(
        VideoUser("door-1"),
        lambda: "opaque-token",
        config=config,
        transports={"whip": transport},
        clock=session_clock,
        random_source=lambda: 0.0,
    )
    recorder = StateRecorder(video)
    try:
        await video.connect("front")
        await recorder.wait_for_state(CONNECTED)
    finally:
        await video.disconnect()

    assert recorder.countdown == [(s, 1) for s in range(30, 0, -1)]
