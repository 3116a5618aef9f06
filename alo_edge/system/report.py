"""State reports: the device tells a server that asked for them what its session went through.

A WHIP server may name a URL in its answer (``Link: <url>; rel="urn:x-alo-edge:events"``;
alo-edge's lab does, and shows the states as a timeline on its live view). The device
then POSTs ``{"events": [{"ts", "state", "stateMessage", "message"?, "retryCount"?,
"pendingRestartSeconds"?}]}`` there with its bearer token. States that happen while the
server is unreachable (ERROR, the countdown) are kept, bounded, and delivered once it
is reachable again, so the timeline has the outage in it. The countdown's per-second
re-emissions are not reported: only changes of state.

A server that names no URL (ALO, any other WHIP server) never hears from this. The
URL must be on the WHIP endpoint's origin (the transport drops any other), and the
reports go through the origin policy: the token goes to that origin only, a redirect
elsewhere is refused.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from typing import Any

import aiohttp

from alo_edge.bearer import expired
from alo_edge.events import Event
from alo_edge.session.view import SessionView
from alo_edge.tasks import cancel_and_wait
from alo_edge.transport.base import ReportTarget
from alo_edge.transport.http import bearer
from alo_edge.transport.origin import OriginPolicy, OriginRefused, device_session

logger = logging.getLogger(__name__)

MAX_BUFFERED = 100
POST_TIMEOUT = aiohttp.ClientTimeout(total=2)
#: On stop, the last states (DISCONNECTED) get this long to reach the server.
FINAL_FLUSH_SECONDS = 0.5
_KEYS = ("stateMessage", "message", "retryCount", "pendingRestartSeconds")


class StateReporter:
    """The session component that delivers state changes to the server's report URL."""

    def __init__(self, *, allow_insecure: bool = False) -> None:
        self._policy = OriginPolicy(allow_insecure=allow_insecure)
        self._pending: deque[dict[str, Any]] = deque(maxlen=MAX_BUFFERED)
        self._last_state: str | None = None
        self._target: ReportTarget | None = None
        self._session: SessionView | None = None
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._http: aiohttp.ClientSession | None = None
        #: States the server accepted so far.
        self.delivered = 0

    async def start(self, session: SessionView) -> None:
        self._session = session
        self._http = device_session(self._policy)
        session.events.add_event_listener("onConnectionChange", self._on_change)
        self._task = asyncio.create_task(self._run(), name="alo-edge state reports")

    async def stop(self) -> None:
        """Try once more (briefly) to deliver what is pending, then stop."""
        if self._session is not None:
            self._session.events.remove_event_listener("onConnectionChange", self._on_change)
        task, self._task = self._task, None
        await cancel_and_wait(task)
        if self._pending and self._target is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._deliver(), FINAL_FLUSH_SECONDS)
        if self._http is not None:
            await self._http.close()
            self._http = None

    def _on_change(self, event: Event) -> None:
        state = event.detail.get("state")
        if state == self._last_state:
            return
        self._last_state = state
        entry = {"ts": round(time.time(), 3), "state": state}
        entry.update({k: event.detail[k] for k in _KEYS if k in event.detail})
        self._pending.append(entry)
        self._wake.set()

    def _current_target(self) -> ReportTarget | None:
        connection = self._session.connection if self._session is not None else None
        target = connection.report_target if connection is not None else None
        if target is not None:
            self._target = target
        # Without a live connection the last server that asked is still the one to tell.
        return self._target

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            if self._current_target() is not None:
                await self._deliver()

    async def _deliver(self) -> None:
        if self._target is None or self._http is None or not self._pending:
            return
        if expired(self._target.token, time.time()):
            # Never send a token known to be dead: the states wait for the next connection's.
            logger.debug("state reports wait: the server's token has expired")
            return
        batch = list(self._pending)
        try:
            # The target is on the WHIP endpoint's origin, which the token was issued for.
            self._policy.issue(self._target.token, self._target.url, what="state reports")
            async with self._http.post(
                self._target.url,
                json={"events": batch},
                headers=bearer(self._target.token),
                timeout=POST_TIMEOUT,
            ) as response:
                if response.status >= 300:
                    logger.debug("state report refused: HTTP %s", response.status)
                    return
        except OriginRefused:
            return  # logged by the policy; nothing was sent
        except (aiohttp.ClientError, TimeoutError) as exc:
            # The server is the thing that is down; these states go with the next report.
            logger.debug("state report not delivered: %s", exc or type(exc).__name__)
            return
        sent = {id(entry) for entry in batch}
        while self._pending and id(self._pending[0]) in sent:
            self._pending.popleft()
        self.delivered += len(batch)
