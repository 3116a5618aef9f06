"""TURN across attempts: an ordered list that works, and what a TURN server said.

aioice relays through one TURN server per connection: aiortc's ``connection_kwargs``
keeps the first TURN URL it is given and drops the rest without a word, so a
firewall fallback list (UDP, then TCP, then TLS on 443) silently becomes its first
entry. Here each attempt gets exactly one TURN URL, chosen from the whole list:

- :class:`TurnRotation` (pure) keeps the order across attempts: an attempt whose
  media path failed with one entry makes the next attempt start at the entry after
  it; one that came up keeps its entry.
- With more than one entry, :func:`choose` asks each for an allocation at once
  (aioice's own ``create_turn_endpoint``, released at once) and takes the first in
  that order that answers, giving an earlier one :data:`PREFERENCE_GRACE` to catch
  up ("happy eyeballs"): behind a firewall that drops UDP, TURN over TCP is chosen
  within a second instead of after a failed attempt.
- :class:`IceAttempt` is one attempt's ICE servers. When gathering produced no relay
  candidate it asks the TURN server why (:func:`probe`), so a failed media path says
  "TURN server ... refused the credentials (401 Unauthorized)" rather than only that
  the media path did not come up.

Credentials (short-lived ones from an access answer included) go to the TURN server
and nowhere else: no log line, error or ``repr`` shows one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from aioice import stun, turn
from aiortc import RTCConfiguration
from aiortc.rtcicetransport import parse_stun_turn_uri

from alo_edge.transport.ice import ice_server, rtc_configuration, shown_url

logger = logging.getLogger(__name__)

#: How long a TURN server may take to grant (or refuse) an allocation.
PROBE_TIMEOUT = 3.0
#: After a later entry answered, an earlier (preferred) one gets this long to answer too.
PREFERENCE_GRACE = 0.3


@dataclass(frozen=True)
class TurnServer:
    """One TURN URL with its credentials (a server entry may list several URLs)."""

    url: str
    username: str | None = None
    credential: str | None = field(default=None, repr=False)

    @property
    def _parsed(self) -> dict[str, Any]:
        return parse_stun_turn_uri(self.url)

    @property
    def address(self) -> tuple[str, int]:
        parsed = self._parsed
        return str(parsed["host"]), int(parsed["port"])

    @property
    def transport(self) -> str:
        """``"udp"`` or ``"tcp"`` (TURN over TLS runs over TCP)."""
        return str(self._parsed["transport"])

    @property
    def tls(self) -> bool:
        return bool(self._parsed["scheme"] == "turns")

    def entry(self) -> dict[str, Any]:
        """The WebRTC-style server entry holding only this URL."""
        server: dict[str, Any] = {"urls": [self.url]}
        if self.username is not None:
            server["username"] = self.username
        if self.credential is not None:
            server["credential"] = self.credential
        return server


def is_turn_url(url: str) -> bool:
    return url.startswith(("turn:", "turns:"))


def turn_servers(servers: Sequence[dict[str, Any]]) -> list[TurnServer]:
    """Every TURN URL of validated ``servers``, in order, each with its entry's credentials."""
    return [
        TurnServer(url, server.get("username"), server.get("credential"))
        for server in servers
        for url in server["urls"]
        if is_turn_url(url)
    ]


def without_turn(servers: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The STUN part of ``servers`` (entries keep only their non-TURN URLs)."""
    kept = []
    for server in servers:
        urls = [url for url in server["urls"] if not is_turn_url(url)]
        if urls:
            kept.append({**server, "urls": urls})
    return kept


class TurnRotation:
    """Which TURN entry an attempt prefers: the order is kept across attempts (pure)."""

    def __init__(self) -> None:
        self._preferred: str | None = None

    def order(self, servers: Sequence[TurnServer]) -> list[TurnServer]:
        """``servers`` starting at the preferred one (the list itself when it is gone)."""
        urls = [s.url for s in servers]
        start = urls.index(self._preferred) if self._preferred in urls else 0
        return [*servers[start:], *servers[:start]]

    def failed(self, server: TurnServer, servers: Sequence[TurnServer]) -> None:
        """The media path did not come up with ``server``: the next attempt tries the next."""
        urls = [s.url for s in servers]
        if server.url in urls and len(urls) > 1:
            self._preferred = urls[(urls.index(server.url) + 1) % len(urls)]

    def worked(self, server: TurnServer) -> None:
        """The media path came up with ``server``: keep it."""
        self._preferred = server.url


@dataclass(frozen=True)
class TurnAnswer:
    """What a TURN server answered an allocation request."""

    granted: bool
    #: Why not, for a person ("refused the credentials (401 Unauthorized)").
    problem: str = ""


async def probe(server: TurnServer, within: float = PROBE_TIMEOUT) -> TurnAnswer:
    """Ask ``server`` for an allocation (released at once): granted, or why not."""
    try:
        relay, _ = await asyncio.wait_for(
            turn.create_turn_endpoint(
                asyncio.DatagramProtocol,
                server_addr=server.address,
                username=server.username,
                password=server.credential,
                ssl=server.tls,
                transport=server.transport,
            ),
            within,
        )
    except stun.TransactionFailed as exc:
        code, reason = exc.response.attributes.get("ERROR-CODE", (0, "no reason given"))
        if code in (401, 403, 437, 441):
            return TurnAnswer(False, f"refused the credentials ({code} {reason})")
        return TurnAnswer(False, f"refused the allocation ({code} {reason})")
    except (stun.TransactionTimeout, TimeoutError):
        return TurnAnswer(False, f"did not answer within {within:g} s")
    except (OSError, ConnectionError, ValueError) as exc:
        return TurnAnswer(False, f"cannot be reached: {exc or type(exc).__name__}")
    relay.close()  # aioice deletes the allocation on the server
    return TurnAnswer(True)


async def choose(
    ordered: Sequence[TurnServer],
    *,
    within: float = PROBE_TIMEOUT,
    grace: float = PREFERENCE_GRACE,
    ask: Callable[[TurnServer, float], Awaitable[TurnAnswer]] | None = None,
) -> tuple[TurnServer | None, dict[str, TurnAnswer]]:
    """The first of ``ordered`` to grant an allocation (see the module docstring).

    Returns it (None when none did within ``within`` s) and each entry's answer so far.
    ``ask``: how a server is asked (:func:`probe`).
    """
    ask = ask or probe
    tasks = {server.url: asyncio.ensure_future(ask(server, within)) for server in ordered}
    answers: dict[str, TurnAnswer] = {}
    deadline: float | None = None
    loop = asyncio.get_running_loop()
    try:
        while True:
            for server in ordered:
                task = tasks[server.url]
                if task.done():
                    answers[server.url] = task.result()
            for server in ordered:  # the first in order that is settled and granted
                answer = answers.get(server.url)
                if answer is None:
                    break  # an earlier entry is still out: wait for it (a while)
                if answer.granted:
                    return server, answers
            granted = [s for s in ordered if answers.get(s.url, TurnAnswer(False)).granted]
            pending = [t for t in tasks.values() if not t.done()]
            if not pending:
                return (granted[0] if granted else None), answers
            if granted:
                deadline = deadline or loop.time() + grace
                if loop.time() >= deadline:
                    return granted[0], answers
            wait = None if deadline is None else max(deadline - loop.time(), 0.0)
            await asyncio.wait(pending, timeout=wait, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks.values():
            task.cancel()
        await asyncio.gather(*tasks.values(), return_exceptions=True)


class IceAttempt:
    """One attempt's ICE servers: at most one TURN URL, and what its TURN server said."""

    def __init__(
        self,
        stun_servers: Sequence[dict[str, Any]],
        server: TurnServer | None,
        *,
        rotation: TurnRotation | None = None,
        candidates: Sequence[TurnServer] = (),
        answers: dict[str, TurnAnswer] | None = None,
    ) -> None:
        entries = [*stun_servers, *([server.entry()] if server is not None else [])]
        self.configuration: RTCConfiguration = rtc_configuration(ice_server(e) for e in entries)
        self.turn = server
        self._rotation = rotation
        self._candidates = list(candidates)
        self._answer = None if server is None else (answers or {}).get(server.url)
        self._probe: asyncio.Task[TurnAnswer] | None = None

    def gathered(self, local_sdp: str) -> None:
        """The offer's candidates are in: without a relay one, ask the TURN server why."""
        if self.turn is None or " typ relay" in local_sdp:
            return
        if self._answer is not None:
            self._warn(self._answer)
        elif self._probe is None:
            self._probe = asyncio.ensure_future(probe(self.turn))
            self._probe.add_done_callback(self._probed)

    def _probed(self, task: asyncio.Task[TurnAnswer]) -> None:
        if not task.cancelled() and task.exception() is None:
            self._answer = task.result()
            self._warn(self._answer)

    def _warn(self, answer: TurnAnswer) -> None:
        if not answer.granted and self.turn is not None:
            logger.warning("TURN server %s %s", shown_url(self.turn.url), answer.problem)

    async def why_media_failed(self) -> str:
        """What the TURN server said, when that explains a media path that did not come up."""
        if self._probe is not None and not self._probe.done():
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.wait_for(asyncio.shield(self._probe), PROBE_TIMEOUT)
        answer, server = self._answer, self.turn
        if answer is None or answer.granted or server is None:
            return ""
        return f"TURN server {shown_url(server.url)} {answer.problem}"

    def media_failed(self) -> None:
        """The media path did not come up: the next attempt tries the next TURN entry."""
        if self.turn is not None and self._rotation is not None:
            self._rotation.failed(self.turn, self._candidates)

    def media_up(self) -> None:
        """The media path came up: the next attempt keeps this TURN entry."""
        if self.turn is not None and self._rotation is not None:
            self._rotation.worked(self.turn)

    def close(self) -> None:
        """Stop asking the TURN server (the attempt is over)."""
        if self._probe is not None:
            self._probe.cancel()


class IcePlan:
    """A transport's ICE servers across attempts (one plan per transport)."""

    def __init__(self) -> None:
        self.rotation = TurnRotation()

    async def attempt(self, servers: Sequence[dict[str, Any]]) -> IceAttempt:
        """This attempt's servers: the STUN ones, and one TURN URL chosen from the list."""
        stun_servers = without_turn(servers)
        candidates = turn_servers(servers)
        ordered = self.rotation.order(candidates)
        answers: dict[str, TurnAnswer] = {}
        chosen = ordered[0] if ordered else None
        if len(ordered) > 1:
            granted, answers = await choose(ordered)
            chosen = granted or ordered[0]
            for server in ordered:
                answer = answers.get(server.url)
                if answer is not None and not answer.granted:
                    logger.info("TURN server %s %s", shown_url(server.url), answer.problem)
        if chosen is not None:
            logger.debug("this attempt relays through TURN server %s", shown_url(chosen.url))
        return IceAttempt(
            stun_servers, chosen, rotation=self.rotation, candidates=candidates, answers=answers
        )
