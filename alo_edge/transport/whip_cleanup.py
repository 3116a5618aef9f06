"""WHIP sessions the device left but the server may not know about: DELETEs retried.

A WHIP server frees a session when its resource is DELETEd. When that one DELETE is
lost (the network is down, which is often *why* the device left), some servers keep
the old publisher forever: Meetecho's simple-whip-server then answers every new POST
with 403 "Endpoint ID already in use", and the device is locked out until someone
restarts the server. So a DELETE that did not reach the server is kept here, with
the token it needs, and sent again before the next POST; kept at most
MAX_PENDING of them for at most MAX_AGE seconds, then forgotten with a warning.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum

import aiohttp

from alo_edge.bearer import expired
from alo_edge.transport.http import bearer, server_reason
from alo_edge.transport.origin import OriginRefused
from alo_edge.urls import mask_url, same_origin

logger = logging.getLogger(__name__)

#: One DELETE may take this long (the server may be the thing that died).
DELETE_TIMEOUT = aiohttp.ClientTimeout(total=2)
MAX_PENDING = 8
#: The longest user id a takeover message quotes (what the server says is not trusted).
MAX_USER_ID = 256
#: A day: outages longer than that need a person anyway, and a server that kept a
#: publisher this long without media will not free it because of a late DELETE.
MAX_AGE = 24 * 3600.0


class DeleteOutcome(Enum):
    """What became of one DELETE."""

    #: The server freed the session (2xx), or never had it (404, 410).
    DONE = "done"
    #: Not delivered, or the server could not act on it now (5xx, 408, 429): try again.
    RETRY = "retry"
    #: The server refused it for good, or the origin policy did: nothing more to do.
    REFUSED = "refused"


@dataclass(frozen=True)
class DeleteResult:
    """What became of one DELETE, and who took the session over when the server said so."""

    outcome: DeleteOutcome
    #: "another device signed in as USER took this session" (see :func:`takeover_message`).
    taken_by: str | None = None


async def delete_resource(http: aiohttp.ClientSession, url: str, token: str) -> DeleteResult:
    """DELETE the WHIP resource ``url`` with ``token``; never raises (it is cleanup)."""
    shown = mask_url(url)
    if expired(token, time.time()):
        # Never send a token known to be dead; a server ends a session whose token expired.
        logger.info("WHIP resource %s not DELETEd: its token has expired", shown)
        return DeleteResult(DeleteOutcome.REFUSED)
    try:
        async with http.delete(url, headers=bearer(token), timeout=DELETE_TIMEOUT) as response:
            status = response.status
            body = await response.content.read(4096)
    except OriginRefused:
        return DeleteResult(DeleteOutcome.REFUSED)  # logged by the policy; nothing was sent
    except aiohttp.InvalidURL:
        logger.warning("WHIP resource %s is not a URL aiohttp can request: not DELETEd", shown)
        return DeleteResult(DeleteOutcome.REFUSED)
    except (aiohttp.ClientError, TimeoutError, OSError) as exc:
        logger.info("WHIP DELETE %s not delivered: %s", shown, exc or type(exc).__name__)
        return DeleteResult(DeleteOutcome.RETRY)
    if status < 300 or status in (404, 410):
        return DeleteResult(DeleteOutcome.DONE, takeover_message(status, body))
    reason = server_reason(body, secrets=(token,)) or "no reason given"
    logger.warning("WHIP DELETE %s answered HTTP %s: %s", shown, status, reason)
    if status >= 500 or status in (408, 429):
        return DeleteResult(DeleteOutcome.RETRY)
    return DeleteResult(DeleteOutcome.REFUSED)


def takeover_message(status: int, body: bytes) -> str | None:
    """ "another device signed in as USER took this session" when a DELETE's answer says the
    server replaced this session with another publisher's: HTTP 410 with
    ``{"replacedBy": {"user": USER}}`` (the lab's answer). None for anything else: the
    device says it only when a server said it."""
    if status != 410:
        return None
    try:
        answer = json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return None
    replaced_by = answer.get("replacedBy") if isinstance(answer, dict) else None
    user = replaced_by.get("user") if isinstance(replaced_by, dict) else None
    if not isinstance(user, str) or not 0 < len(user) <= MAX_USER_ID or not user.isprintable():
        return None
    return f"another device signed in as {user} took this session"


@dataclass(frozen=True)
class UndeliveredDelete:
    """A WHIP resource whose DELETE did not reach the server."""

    url: str
    token: str = field(repr=False)
    since: float


class PendingDeletes:
    """Undelivered DELETEs, bounded in count and age; ``clock`` is monotonic seconds."""

    def __init__(
        self,
        *,
        max_pending: int = MAX_PENDING,
        max_age: float = MAX_AGE,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._max_pending = max_pending
        self._max_age = max_age
        self._clock = clock
        self._entries: list[UndeliveredDelete] = []

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def urls(self) -> list[str]:
        """The resources still to DELETE, oldest first."""
        return [entry.url for entry in self._entries]

    def add(self, url: str, token: str) -> None:
        """Keep ``url`` for a later DELETE; past MAX_PENDING the oldest is forgotten."""
        self._entries = [e for e in self._entries if e.url != url]
        self._entries.append(UndeliveredDelete(url, token, self._clock()))
        while len(self._entries) > self._max_pending:
            self._forget(self._entries[0], "too many undelivered DELETEs")

    def due(self) -> list[UndeliveredDelete]:
        """The entries to DELETE now; those older than MAX_AGE are forgotten first."""
        now = self._clock()
        for entry in [e for e in self._entries if now - e.since > self._max_age]:
            self._forget(entry, f"undelivered for more than {self._max_age:.0f} s")
        return list(self._entries)

    def _forget(self, entry: UndeliveredDelete, why: str) -> None:
        self._entries.remove(entry)
        logger.warning("WHIP session %s forgotten (%s)", mask_url(entry.url), why)

    async def flush(
        self, http: aiohttp.ClientSession, *, endpoint: str, token: str
    ) -> list[DeleteOutcome]:
        """DELETE every due resource at once (one DELETE_TIMEOUT for all of them).

        A resource on ``endpoint``'s origin goes with ``token`` (the current one: the
        token it was created with may have been renewed since); one elsewhere with its
        own. Delivered or refused ones are dropped, the rest kept for the next time.
        """
        entries = self.due()
        if not entries:
            return []
        tokens = [token if same_origin(e.url, endpoint) else e.token for e in entries]
        results = await asyncio.gather(
            *(delete_resource(http, e.url, t) for e, t in zip(entries, tokens, strict=True))
        )
        outcomes = [result.outcome for result in results]
        for entry, outcome in zip(entries, outcomes, strict=True):
            if outcome is DeleteOutcome.RETRY:
                continue
            if entry in self._entries:
                self._entries.remove(entry)
            if outcome is DeleteOutcome.DONE:
                logger.info("WHIP session %s left behind earlier is DELETEd", mask_url(entry.url))
        return outcomes
