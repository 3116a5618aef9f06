"""Short-lived tokens from the operator's token endpoint, renewed before they expire.

``alo.token_url`` + ``alo.client_id`` + the client secret (``alo.client_secret_file``
or the systemd credential ``alo-client-secret``): the device obtains its bearer with the
OAuth 2.0 client-credentials grant (:mod:`alo_edge.transport.oauth`). A background task,
started and stopped with the session, renews the token when 20 % of its lifetime is left
(:mod:`.renewal`), also while CONNECTED, so a reconnect never waits for a token nor sends
an expired one. A failing endpoint is retried with the connection backoff and never
touches a live session; a 401 from a server fetches a fresh token at once.

One fetch at a time: the renewal task, an attempt that finds no usable token and a 401
all join the fetch in flight instead of starting another.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

import aiohttp

from alo_edge.errors import AloEdgeError, AuthError, TransportError
from alo_edge.session.access import read_client_secret
from alo_edge.session.backoff import ReconnectPolicy
from alo_edge.session.clock import Clock
from alo_edge.session.credentials import CredentialState
from alo_edge.session.renewal import HeldToken, RenewalPlan
from alo_edge.transport.oauth import TokenGrant, request_token

logger = logging.getLogger(__name__)

SOURCE = "client_credentials"
#: The renewal task looks at the wall clock at least this often: a Pi without a real-time
#: clock may jump forward by years when NTP first answers.
MAX_SLEEP = 60.0


class TokenGrantSource(Protocol):
    """Fetches one token (the real one asks the endpoint; a test's plays a script)."""

    async def fetch(self) -> TokenGrant:
        """One grant; raises AuthError, TransportError or SignallingError."""
        ...

    async def close(self) -> None:
        """Release what the fetches used (an HTTP session)."""
        ...


class OAuthClient:
    """The endpoint at ``url`` as ``client_id``; the secret is re-read for every fetch,
    so a rotated secret file heals the device as a rotated token file does."""

    def __init__(
        self, url: str, client_id: str, secret_path: Callable[[], Path], scope: str | None
    ) -> None:
        self._url = url
        self._client_id = client_id
        self._secret_path = secret_path
        self._scope = scope
        self._http: aiohttp.ClientSession | None = None

    async def fetch(self) -> TokenGrant:
        secret = read_client_secret(self._secret_path())
        if self._http is None:
            self._http = aiohttp.ClientSession()
        return await request_token(self._http, self._url, self._client_id, secret, self._scope)

    async def close(self) -> None:
        http, self._http = self._http, None
        if http is not None:
            await http.close()


class ClientCredentials:
    """The :class:`~alo_edge.session.credentials.Credentials` of ``alo.token_url``."""

    def __init__(self, grant: TokenGrantSource, clock: Clock, policy: ReconnectPolicy) -> None:
        self._grant = grant
        self._clock = clock
        self._plan = RenewalPlan(policy)
        self._token: HeldToken | None = None
        #: A token a server answered 401 to: never sent again.
        self._refused: str | None = None
        self._inflight: asyncio.Task[HeldToken] | None = None
        self._task: asyncio.Task[None] | None = None
        self._changed = asyncio.Event()
        self._renewals = 0
        self._last_error: str | None = None
        self._last_error_at: float | None = None

    async def start(self) -> None:
        """Start the renewal task (it renews once a first token is held)."""
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._renew_forever(), name="alo-edge token renewal")

    async def stop(self) -> None:
        """Stop renewing, abandon a fetch in flight, close the HTTP session."""
        for task in (self._task, self._inflight):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, AloEdgeError):
                    await task
        self._task = self._inflight = None
        await self._grant.close()

    async def bearer(self) -> str:
        token = self._token
        if token is not None and token.value != self._refused and token.usable(self._clock.wall()):
            return token.value
        return (await self._fetch_shared()).value

    async def refused(self, token: str) -> bool:
        self._refused = token
        current = self._token
        if current is not None and current.value != token and current.usable(self._clock.wall()):
            return True  # renewed since that attempt began
        try:
            await self._fetch_shared()
        except AloEdgeError:
            return False  # _fetch logged why; the next attempt waits at the cap
        return True

    def state(self) -> CredentialState:
        token = self._token
        return CredentialState(
            SOURCE,
            expires_at=token.expires_at if token else None,
            obtained_at=token.obtained_at if token else None,
            renew_at=self._plan.next_fetch_at(token, self._clock.wall()) if token else None,
            renewals=self._renewals,
            failures=self._plan.failures,
            last_error=self._last_error,
            last_error_at=self._last_error_at,
        )

    async def _renew_forever(self) -> None:
        while True:
            self._changed.clear()
            token = self._token
            if token is None:
                await self._changed.wait()  # the first token comes from the first attempt
                continue
            now = self._clock.wall()
            due = self._plan.next_fetch_at(token, now)
            if due > now:
                await self._sleep_or_changed(min(due - now, MAX_SLEEP))
                continue
            with contextlib.suppress(AloEdgeError):
                await self._fetch_shared()

    async def _sleep_or_changed(self, seconds: float) -> None:
        sleeper = asyncio.ensure_future(self._clock.sleep(seconds))
        changed = asyncio.ensure_future(self._changed.wait())
        try:
            await asyncio.wait({sleeper, changed}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (sleeper, changed):
                task.cancel()
            await asyncio.gather(sleeper, changed, return_exceptions=True)

    async def _fetch_shared(self) -> HeldToken:
        if self._inflight is None or self._inflight.done():
            self._inflight = asyncio.ensure_future(self._fetch())
            # Whoever awaits it may be cancelled; the outcome is still retrieved.
            self._inflight.add_done_callback(_retrieve)
        return await asyncio.shield(self._inflight)

    async def _fetch(self) -> HeldToken:
        started = self._clock.wall()
        try:
            try:
                grant = await self._grant.fetch()
            except AloEdgeError:
                raise
            except Exception as exc:  # a library underneath failed in an unforeseen way
                logger.exception("unexpected error asking the token endpoint")
                raise TransportError(f"token endpoint: unexpected error: {exc!r}") from None
        except AloEdgeError as exc:
            self._failed(exc)
            raise
        token = HeldToken(grant.access_token, started, started + grant.expires_in)
        self._token = token
        self._plan.succeeded()
        self._renewals += 1
        self._changed.set()
        logger.info(
            "token obtained from the token endpoint; it expires at %s, renewal at %s",
            _iso(token.expires_at),
            _iso(token.renew_at),
        )
        return token

    def _failed(self, exc: AloEdgeError) -> None:
        now = self._clock.wall()
        refused = isinstance(exc, AuthError)
        delay = self._plan.failed(now, retry_after=exc.retry_after, refused=refused)
        self._last_error, self._last_error_at = str(exc), now
        self._changed.set()
        token = self._token
        if self._plan.should_warn(token, now):
            expiry = "no token held" if token is None else _expiry(token, now)
            logger.warning(
                "token renewal keeps failing (%d attempts) and %s: %s; next try in %.0f s",
                self._plan.failures,
                expiry,
                exc,
                delay,
            )
        else:
            logger.info("token fetch failed: %s (next try in %.0f s)", exc, delay)


def _retrieve(task: asyncio.Task[HeldToken]) -> None:
    if not task.cancelled():
        task.exception()


def _expiry(token: HeldToken, now: float) -> str:
    left = token.expires_at - now
    when = _iso(token.expires_at)
    return f"the token expired at {when}" if left <= 0 else f"the token expires at {when}"


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="seconds")
