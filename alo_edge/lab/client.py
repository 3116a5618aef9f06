"""The one HTTP client of the lab, for the commands, the demo, the benches and the tests.

The lab's API as its callers use it: a device token for a user (``POST /v1/auth`` with the
lab's API key), client credentials for a device that fetches its own tokens (``POST
/v1/clients``), what each channel received (``GET /api/channels``), and a bounded wait for
a lab that is still starting. Every failure is an :class:`~alo_edge.errors.AloEdgeError`
with a one-line message, so a command prints ``alo-edge: the lab at ... is not reachable``
instead of a traceback. Neither the API key nor a token ever appears in a message or a log
line: the client logs nothing, and only the lab's own reason is quoted.

A device never uses this module: it talks to the lab as it talks to ALO, through the
access step and WHIP.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import Callable
from types import TracebackType
from typing import Any

import aiohttp

from alo_edge.errors import AloEdgeError
from alo_edge.transport.http import bearer, read_limited

#: No request to the lab may take longer than this, unless the caller says otherwise.
DEFAULT_TIMEOUT = 10.0
#: While waiting for a starting lab, each probe gives up after this long and is retried.
PROBE_TIMEOUT = 1.0
PROBE_INTERVAL = 0.1
MAX_ANSWER_BYTES = 1024 * 1024


class LabUnreachableError(AloEdgeError, ConnectionError):
    """The lab did not answer: nothing listens there, the name does not resolve, or it hung."""


class LabClient:
    """The lab at ``url`` (``http://host:port``); ``async with LabClient(url) as lab: ...``.

    One HTTP session for the client's life (opened by the first request, closed by
    :meth:`close` or the end of the ``async with``), so a bench polling ``channel_report``
    many times a second reuses its connection. ``timeout`` bounds each request (seconds).
    """

    def __init__(self, url: str, *, timeout: float = DEFAULT_TIMEOUT) -> None:
        if timeout <= 0:
            raise ValueError(f"timeout must be positive, got {timeout!r}")
        self._url = url.rstrip("/")
        self._timeout = timeout
        self._http: aiohttp.ClientSession | None = None

    @property
    def url(self) -> str:
        """The lab's base URL, without a trailing slash."""
        return self._url

    async def __aenter__(self) -> LabClient:
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        """Close the HTTP session; a later request opens a new one."""
        http, self._http = self._http, None
        if http is not None:
            await http.close()

    async def request_token(self, api_key: str, user_id: str, ttl_minutes: float = 60.0) -> str:
        """A device token for ``user_id`` valid ``ttl_minutes``, minted by ``POST /v1/auth``.

        A refusal (a wrong API key, a bad user id) names the HTTP status and the lab's reason.
        """
        status, body = await self._call(
            "POST",
            "/v1/auth",
            body={"user": {"id": user_id}, "ttl": ttl_minutes},
            headers=bearer(api_key),
        )
        token = body.get("token") if isinstance(body, dict) else None
        if status != 200 or not isinstance(token, str) or not token:
            reason = body.get("error") if isinstance(body, dict) else None
            raise AloEdgeError(f"lab refused the token request (HTTP {status}): {reason}")
        return token

    async def issue_client(
        self, api_key: str, client_id: str, user_id: str | None = None
    ) -> tuple[str, str]:
        """``(client_secret, token_url)`` for ``client_id`` from ``POST /v1/clients``.

        The client acts as ``user_id`` (default: the client id); a new secret replaces an
        earlier one. A refusal names the HTTP status and the lab's reason.
        """
        body: dict[str, Any] = {"client": client_id}
        if user_id is not None:
            body["user"] = {"id": user_id}
        status, answer = await self._call("POST", "/v1/clients", body=body, headers=bearer(api_key))
        secret = answer.get("client_secret") if isinstance(answer, dict) else None
        token_url = answer.get("token_url") if isinstance(answer, dict) else None
        if status != 200 or not isinstance(secret, str) or not isinstance(token_url, str):
            reason = answer.get("error") if isinstance(answer, dict) else None
            raise AloEdgeError(f"lab refused to issue client credentials (HTTP {status}): {reason}")
        return secret, token_url

    async def channels(self) -> dict[str, dict[str, Any]]:
        """``GET /api/channels``: every channel's report (frames, fps, audio...) by name."""
        status, body = await self._call("GET", "/api/channels")
        channels = body.get("channels") if isinstance(body, dict) else None
        if status != 200 or not isinstance(channels, dict):
            raise AloEdgeError(
                f"the lab at {self._url} answered GET /api/channels with HTTP {status} "
                "and no channel report: is it an alo-edge lab?"
            )
        return channels

    async def channel_report(self, channel: str) -> dict[str, Any]:
        """One channel's report from ``GET /api/channels``; ``{}`` before anything arrived."""
        report = (await self.channels()).get(channel, {})
        return report if isinstance(report, dict) else {}

    async def wait_until_answering(
        self, within: float, *, starting: Callable[[], bool] | None = None
    ) -> None:
        """Return once the lab answers ``GET /api/channels``; give up after ``within`` s.

        ``starting`` tells whether the lab may still come up (its process is alive); when it
        returns False the wait ends at once instead of running out the clock.
        """
        deadline = time.monotonic() + within
        while True:
            probe = min(PROBE_TIMEOUT, max(deadline - time.monotonic(), 0.01))
            try:
                status, _ = await self._call("GET", "/api/channels", within=probe)
                if status == 200:
                    return
            except LabUnreachableError:
                pass  # not listening yet
            if starting is not None and not starting():
                raise LabUnreachableError(f"the lab at {self._url} stopped before it answered")
            if time.monotonic() >= deadline:
                raise LabUnreachableError(
                    f"the lab at {self._url} did not answer within {within:g} s"
                )
            await asyncio.sleep(PROBE_INTERVAL)  # a starting lab needs a moment to listen

    async def _call(
        self,
        method: str,
        path: str,
        *,
        body: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
        within: float | None = None,
    ) -> tuple[int, Any]:
        """``(status, JSON body or None)``; a lab that does not answer is LabUnreachableError."""
        if self._http is None:
            self._http = aiohttp.ClientSession()
        seconds = within if within is not None else self._timeout
        try:
            async with self._http.request(
                method,
                f"{self._url}{path}",
                json=body,
                headers=headers,
                timeout=aiohttp.ClientTimeout(total=seconds),
            ) as response:
                raw = await read_limited(response, MAX_ANSWER_BYTES, what=f"{method} {path}")
                return response.status, _json_or_none(raw)
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise LabUnreachableError(
                f"the lab at {self._url} is not reachable ({_why(exc, seconds)}): "
                "is `alo-edge lab` running there?"
            ) from None


async def request_token(lab_url: str, api_key: str, user_id: str, ttl_minutes: float = 60.0) -> str:
    """One device token from the lab at ``lab_url`` (``alo-edge token``'s one request)."""
    async with LabClient(lab_url) as lab:
        return await lab.request_token(api_key, user_id, ttl_minutes)


async def issue_client(
    lab_url: str, api_key: str, client_id: str, user_id: str | None = None
) -> tuple[str, str]:
    """Client credentials from the lab at ``lab_url`` (``alo-edge token --client``)."""
    async with LabClient(lab_url) as lab:
        return await lab.issue_client(api_key, client_id, user_id)


def _json_or_none(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return None


def _why(exc: BaseException, seconds: float) -> str:
    """What went wrong, in a few words and on one line."""
    if isinstance(exc, TimeoutError):
        return f"no answer within {seconds:g} s"
    if isinstance(exc, aiohttp.InvalidURL | aiohttp.NonHttpUrlClientError):
        return "not an http:// URL"
    if isinstance(exc, aiohttp.ClientConnectorError):
        error = exc.os_error
        # aiohttp's own wording wraps the OS error in host/ssl details; the errno says it best.
        if isinstance(error.errno, int) and error.errno > 0:
            return os.strerror(error.errno)
        return error.strerror or str(error)
    return " ".join(str(exc).split()) or type(exc).__name__
