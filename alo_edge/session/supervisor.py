"""The keep-alive loop: access -> connect -> watch liveness -> reconnect, forever.

    NOT_CONNECTED -> ACQUIRING_ACCESS -> CONNECTING -> CONNECTED
    any live state --failure--> ERROR -> RECONNECT_PENDING (every second) -> ACQUIRING_ACCESS
    stop() from any state -> DISCONNECTED

Retryable errors (AuthError, TransportError, DeviceMissingError: a camera that is
not there yet) and unexpected exceptions from the libraries underneath lead to ERROR
and a backoff wait; the loop never ends on its own. A HardwareError that retrying
cannot heal ends it: it needs a person. A ConfigError does not: only the config file
at start may stop the service (exit 78), and one raised during an attempt came from
what a server said (or a part that checked too late), so it is retried like any other
failure. Messages reach the events with URL secrets masked.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from collections.abc import Awaitable, Callable
from typing import Any

from alo_edge.errors import (
    AloEdgeError,
    AuthError,
    ConfigError,
    SignallingError,
    TokenRejectedError,
    TransportError,
)
from alo_edge.session.backoff import ReconnectPolicy
from alo_edge.session.clock import Clock
from alo_edge.session.states import STATE_MESSAGES, ConnectionState, is_allowed
from alo_edge.transport.base import Access, Connection
from alo_edge.urls import mask_urls_in

logger = logging.getLogger(__name__)

S = ConnectionState
StateListener = Callable[[ConnectionState, dict[str, Any]], None]


class Supervisor:
    """Owns the connection state and the one live connection; runs the keep-alive loop."""

    def __init__(
        self,
        *,
        acquire: Callable[[], Awaitable[Access]],
        open_connection: Callable[[Access], Awaitable[Connection]],
        policy: ReconnectPolicy,
        clock: Clock,
        on_state: StateListener,
        renew_refused: Callable[[], Awaitable[bool]] | None = None,
    ) -> None:
        """``renew_refused``: after a server answered 401, get a fresh bearer now; True when
        one is ready (the next attempt then follows at once, once in a row)."""
        self._acquire = acquire
        self._open = open_connection
        self._policy = policy
        self._clock = clock
        self._on_state = on_state
        self._renew_refused = renew_refused
        #: A 401 was answered with a fresh token and an immediate retry: the next 401 in a
        #: row waits at the cap as any auth failure does.
        self._renewed_after_refusal = False
        self._state = S.NOT_CONNECTED
        self._connection: Connection | None = None
        self._wake = asyncio.Event()
        self._last_error: AloEdgeError | None = None
        self._task: asyncio.Task[None] | None = None

    @property
    def state(self) -> ConnectionState:
        """The connection state (ALO's values); every change is reported to ``on_state``."""
        return self._state

    @property
    def connection(self) -> Connection | None:
        """The live connection while CONNECTED, else None."""
        return self._connection

    @property
    def retry_count(self) -> int:
        """Consecutive failed attempts (ALO's ``retryCount``)."""
        return self._policy.retry_count

    def start(self) -> asyncio.Task[None]:
        """Start the loop in a task this supervisor owns (stopped by :meth:`stop`)."""
        if self._task is None or self._task.done():
            if self._state is S.DISCONNECTED:
                self._state = S.NOT_CONNECTED
                self._policy.reset()
            self._task = asyncio.create_task(self._run(), name="alo-edge supervisor")
        return self._task

    @property
    def task(self) -> asyncio.Task[None] | None:
        """The loop's task while it runs; it ends only on a fatal error or :meth:`stop`."""
        return self._task

    @property
    def last_error(self) -> AloEdgeError | None:
        """Why the last attempt failed (None after a clean connect), e.g. to show an auth LED."""
        return self._last_error

    def reconnect_now(self) -> None:
        """Reconnect at once: cut a pending backoff wait short, or replace a live connection.

        A requested reconnect is not a failure: it does not grow the backoff.
        """
        self._wake.set()

    async def stop(self) -> None:
        """Leave the channel, end the loop, and report DISCONNECTED."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            # A fatal error that ended the loop was reported as ERROR already.
            with contextlib.suppress(asyncio.CancelledError, AloEdgeError):
                await task
        await self._drop_connection()
        self._set_state(S.DISCONNECTED)

    async def _run(self) -> None:
        while True:
            self._wake.clear()
            failure: AloEdgeError
            try:
                await self._attempt()
            except ConfigError as exc:
                # Never an exit 78 once running: the config file was checked at start.
                logger.error("invalid value in this attempt: %s (retried, not fatal)", exc)
                failure = SignallingError(str(exc))
            except AloEdgeError as exc:
                if not exc.retryable:
                    self._last_error = exc
                    self._set_state(S.ERROR, message=mask_urls_in(str(exc)))
                    raise
                failure = exc
            except Exception as exc:
                # A library underneath failed in a way nobody foresaw: log it with its
                # traceback, then treat it as a failed attempt rather than a dead device.
                logger.exception("unexpected error in connection attempt")
                failure = TransportError(f"unexpected error: {exc!r}")
            else:
                # The attempt only returns when a reconnect was asked for.
                await self._drop_connection()
                self._set_state(
                    S.RECONNECT_PENDING, pendingRestartSeconds=0, retryCount=self.retry_count
                )
                continue
            self._last_error = failure
            await self._recover(failure)

    async def _attempt(self) -> None:
        self._set_state(S.ACQUIRING_ACCESS)
        access = await self._acquire()
        self._set_state(S.CONNECTING)
        self._connection = await self._open(access)
        self._policy.connected(self._clock.monotonic())
        self._last_error = None
        self._renewed_after_refusal = False
        self._wake.clear()
        self._set_state(S.CONNECTED)
        lost = asyncio.ensure_future(self._connection.wait_lost())
        woken = asyncio.ensure_future(self._wake.wait())
        try:
            await asyncio.wait({lost, woken}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (lost, woken):
                task.cancel()
            await asyncio.gather(lost, woken, return_exceptions=True)
        if not woken.done() or woken.cancelled():
            raise TransportError(lost.result())
        logger.info("reconnect requested while connected")

    async def _recover(self, failure: AloEdgeError) -> None:
        delay = self._policy.next_delay(
            self._clock.monotonic(),
            retry_after=failure.retry_after,
            at_cap=isinstance(failure, AuthError),
        )
        self._set_state(
            S.ERROR, message=mask_urls_in(str(failure)), retryCount=self._policy.retry_count
        )
        await self._drop_connection()
        if await self._fresh_bearer_after(failure):
            delay = 0.0
        logger.warning("connection failed: %s (retry in %.1f s)", failure, delay)
        await self._countdown(self._clock.monotonic() + delay)

    async def _fresh_bearer_after(self, failure: AloEdgeError) -> bool:
        """After a 401, once in a row: True when a fresh bearer is ready for a retry now."""
        if not isinstance(failure, TokenRejectedError) or self._renew_refused is None:
            return False
        if self._renewed_after_refusal:
            return False
        self._renewed_after_refusal = True
        renewed = await self._renew_refused()
        if renewed:
            logger.info("the server refused the token; a fresh one is ready, retrying now")
        return renewed

    async def _drop_connection(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            await connection.close()

    async def _countdown(self, deadline: float) -> None:
        """Emit RECONNECT_PENDING once a second until ``deadline`` or a wake-up."""
        while True:
            remaining = deadline - self._clock.monotonic()
            self._set_state(
                S.RECONNECT_PENDING,
                pendingRestartSeconds=max(math.ceil(remaining), 0),
                retryCount=self._policy.retry_count,
            )
            if remaining <= 0:
                return
            # Sleep to the next whole second of the countdown, so the numbers tick evenly.
            step = remaining - math.ceil(remaining) + 1
            if await self._sleep_or_wake(min(step, remaining)):
                logger.info("reconnect wait cut short")
                return
            if deadline - self._clock.monotonic() <= 0:
                return

    async def _sleep_or_wake(self, seconds: float) -> bool:
        """Sleep ``seconds``; True when :meth:`reconnect_now` woke us first."""
        if self._wake.is_set():
            return True
        sleeper = asyncio.ensure_future(self._clock.sleep(seconds))
        waker = asyncio.ensure_future(self._wake.wait())
        try:
            await asyncio.wait({sleeper, waker}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (sleeper, waker):
                task.cancel()
            await asyncio.gather(sleeper, waker, return_exceptions=True)
        return self._wake.is_set()

    def _set_state(self, new: ConnectionState, **detail: Any) -> None:
        old = self._state
        if new is old and new is not S.RECONNECT_PENDING:
            return
        if not is_allowed(old, new):
            logger.error("state %s -> %s is not in the table; reported anyway", old, new)
        self._state = new
        if new is not old:
            logger.info("connection state %s -> %s", old, new, extra=_journal_fields(new, detail))
        detail.setdefault("stateMessage", STATE_MESSAGES[new])
        self._on_state(new, detail)


def _journal_fields(state: ConnectionState, detail: dict[str, Any]) -> dict[str, Any]:
    fields: dict[str, Any] = {"ALO_STATE": state.value}
    if "retryCount" in detail:
        fields["ALO_RETRY"] = detail["retryCount"]
    if "pendingRestartSeconds" in detail:
        fields["ALO_PENDING_S"] = detail["pendingRestartSeconds"]
    return fields
