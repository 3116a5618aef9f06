"""The hostile tier's servers: a server that answers badly on purpose, and a second host
that records whatever reaches it.

Both run in the test process, each on its own event loop in a daemon thread, so the
device under test is the real ``alo-edge run`` process and the test reads what the
servers saw without any IPC:

- :class:`CredentialRecorder` listens on **127.0.0.2** (a second loopback address:
  Linux routes all of 127.0.0.0/8 to ``lo``, so this is another host as far as
  origins go, and nothing leaves the machine). It accepts TCP connections and keeps
  every byte it receives; it never answers. The tier's claim is that it receives
  nothing at all: no token, no request, no connection.
- :class:`HostileServer` listens on 127.0.0.1 and plays the access endpoint and a
  WHIP endpoint. Each access request is one *attempt*: the n-th attempt gets the
  n-th case's answer (``tests/hostile/cases.py``), and the cases send the device to
  WHIP paths that misbehave in their own way. A WHIP path can also proxy to a real
  ``alo-edge lab``, so the device really connects, with the answer's ``Location``
  and ``Link`` moved onto the recorder's host.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any, TypeVar

import aiohttp
from aiohttp import web

SECOND_HOST = "127.0.0.2"
#: How long a recorded connection is read before it is closed.
RECORD_SECONDS = 2.0
MAX_RECORDED = 64 * 1024
STEP = 10.0

T = TypeVar("T")


class LoopThread:
    """An asyncio loop in a daemon thread; :meth:`run` calls a coroutine on it, bounded."""

    def __init__(self, name: str) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name=name, daemon=True)
        self._thread.start()

    def run(self, coroutine: Awaitable[T], timeout: float = STEP) -> T:
        future: Future[T] = asyncio.run_coroutine_threadsafe(coroutine, self.loop)  # type: ignore[arg-type]
        return future.result(timeout)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(STEP)
        if not self._thread.is_alive():
            self.loop.close()


@dataclass
class Connection:
    """One TCP connection the recorder accepted, and everything it received."""

    peer: str
    data: bytearray = field(default_factory=bytearray)


class CredentialRecorder:
    """The second host: accepts connections on 127.0.0.2 and records every byte, answers none."""

    def __init__(self) -> None:
        self.connections: list[Connection] = []
        self.port = 0
        self._thread = LoopThread("credential-recorder")
        self._server: asyncio.Server | None = None

    @property
    def base(self) -> str:
        return f"http://{SECOND_HOST}:{self.port}"

    def start(self) -> None:
        async def start() -> None:
            self._server = await asyncio.start_server(self._accept, SECOND_HOST, 0)
            self.port = self._server.sockets[0].getsockname()[1]

        self._thread.run(start())

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connection = Connection(str(writer.get_extra_info("peername")))
        self.connections.append(connection)
        deadline = time.monotonic() + RECORD_SECONDS
        try:
            while len(connection.data) < MAX_RECORDED:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                chunk = await asyncio.wait_for(reader.read(4096), remaining)
                if not chunk:
                    break
                connection.data += chunk
        except (TimeoutError, ConnectionError):
            pass
        finally:
            writer.close()

    def received(self) -> list[bytes]:
        """What each connection sent, in order (a copy)."""
        return [bytes(c.data) for c in list(self.connections)]

    def close(self) -> None:
        async def stop() -> None:
            if self._server is not None:
                self._server.close()
                await self._server.wait_closed()

        try:
            self._thread.run(stop())
        finally:
            self._thread.close()


@dataclass
class Seen:
    """One request the hostile server answered."""

    method: str
    path: str
    authorization: str | None
    status: int


Handler = Callable[["HostileServer", web.Request], Awaitable[web.StreamResponse]]


class HostileServer:
    """Access endpoint and WHIP endpoint on 127.0.0.1 answering as the current case says.

    ``access_answers[n]`` answers the n-th access request (the last one repeats);
    ``whip`` maps a WHIP path name to its handler. ``lab_url`` is a real lab the
    ``proxy`` handlers forward to.
    """

    def __init__(self, lab_url: str, recorder: CredentialRecorder) -> None:
        self.lab_url = lab_url
        self.recorder = recorder
        self.access_answers: list[Handler] = []
        self.whip: dict[str, Handler] = {}
        self.seen: list[Seen] = []
        self.attempts = 0
        #: The device token (what the device sends the access endpoint) and the lab token
        #: the access answers hand out as the media token; a port nothing listens on.
        self.user_token = ""
        self.media_token = ""
        self.closed_port = 0
        self.port = 0
        self._thread = LoopThread("hostile-server")
        self._runner: web.AppRunner | None = None
        self.http: aiohttp.ClientSession | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        async def start() -> None:
            app = web.Application(client_max_size=1024 * 1024)
            app.router.add_post("/v1/access", self._access)
            app.router.add_route("*", "/whip/{name}", self._whip)
            app.router.add_route("*", "/whip/{name}/{tail:.*}", self._whip)
            app.router.add_get("/janus/{name}", self._whip)
            self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
            await self._runner.setup()
            site = web.TCPSite(self._runner, "127.0.0.1", 0)
            await site.start()
            self.port = self._runner.addresses[0][1]
            self.http = aiohttp.ClientSession()

        self._thread.run(start())

    def close(self) -> None:
        async def stop() -> None:
            if self.http is not None:
                await self.http.close()
            if self._runner is not None:
                await self._runner.cleanup()

        try:
            self._thread.run(stop())
        finally:
            self._thread.close()

    def _record(self, request: web.Request, response: web.StreamResponse) -> web.StreamResponse:
        self.seen.append(
            Seen(
                request.method,
                request.path_qs,
                request.headers.get("Authorization"),
                response.status,
            )
        )
        return response

    async def _access(self, request: web.Request) -> web.StreamResponse:
        await request.read()
        index = min(self.attempts, len(self.access_answers) - 1)
        self.attempts += 1
        return self._record(request, await self.access_answers[index](self, request))

    async def _whip(self, request: web.Request) -> web.StreamResponse:
        handler = self.whip.get(request.match_info["name"])
        if handler is None:
            await request.read()
            return self._record(request, web.Response(status=404, text="no such case"))
        return self._record(request, await handler(self, request))

    # --- proxying to the lab --------------------------------------------------------------

    async def proxy(self, request: web.Request, path: str) -> tuple[int, bytes, dict[str, str]]:
        """Forward ``request`` (method, Authorization, Content-Type, body) to the lab's ``path``."""
        assert self.http is not None
        headers = {
            name: request.headers[name]
            for name in ("Authorization", "Content-Type")
            if name in request.headers
        }
        async with self.http.request(
            request.method,
            f"{self.lab_url}{path}",
            data=await request.read() or None,
            headers=headers,
            timeout=aiohttp.ClientTimeout(total=STEP),
        ) as upstream:
            body = await upstream.read()
            kept = ("Location", "Link", "Content-Type")
            return (
                upstream.status,
                body,
                {h: upstream.headers[h] for h in kept if h in upstream.headers},
            )


def response(status: int, body: bytes | str = b"", **headers: str) -> web.Response:
    """A response with exactly these headers (Content-Type among them when given)."""
    data = body.encode() if isinstance(body, str) else body
    return web.Response(
        status=status, body=data, headers={k.replace("_", "-"): v for k, v in headers.items()}
    )


def json_answer(document: Any, status: int = 200) -> web.Response:
    return web.json_response(document, status=status)
