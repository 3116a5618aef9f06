"""A gate in front of the lab that misbehaves on purpose, and reports every request it sees.

Run inside the lab's namespace by the fault rig::

    python -m tests.faults.gate --listen ADDR:PORT --upstream http://LAB:PORT
        [--fail STATUS --retry-after S]   answer STATUS (e.g. 503) until SIGUSR1, then pass
        [--tls-cert FILE --tls-key FILE]  serve HTTPS with that (untrusted) certificate

Everything else is proxied to the lab unchanged (method, path, Host, Authorization,
Content-Type, body; the answer's status, body and the headers WHIP needs). Each
request is one JSON line on stdout, ``{"event": "request", "ts", "method", "path",
"status"}``, so a test can tell exactly when the device asked and what it got. The
Authorization header is never printed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import ssl
import sys
import time
from typing import Any

import aiohttp
from aiohttp import web

PASSED_HEADERS = ("Location", "Content-Type", "Link", "Retry-After", "WWW-Authenticate")
UPSTREAM_TIMEOUT = aiohttp.ClientTimeout(total=10)
MAX_BODY = 256 * 1024


def emit(event: str, **fields: Any) -> None:
    print(json.dumps({"event": event, "ts": round(time.time(), 3), **fields}), flush=True)


class Gate:
    """Fails with ``fail_status`` until :meth:`open` is called, then proxies to ``upstream``."""

    def __init__(self, upstream: str, fail_status: int | None, retry_after: str | None) -> None:
        self.upstream = upstream.rstrip("/")
        self.fail_status = fail_status
        self.retry_after = retry_after
        self.http: aiohttp.ClientSession | None = None

    def open(self) -> None:
        self.fail_status = None
        emit("opened")

    async def handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.content.read(MAX_BODY)
        if self.fail_status is not None:
            headers = {"Retry-After": self.retry_after} if self.retry_after else {}
            response = web.json_response(
                {"error": "the gate is failing on purpose"},
                status=self.fail_status,
                headers=headers,
            )
        else:
            response = await self._proxy(request, body)
        emit("request", method=request.method, path=request.path, status=response.status)
        return response

    async def _proxy(self, request: web.Request, body: bytes) -> web.Response:
        assert self.http is not None
        headers = {
            name: request.headers[name]
            for name in ("Authorization", "Content-Type")
            if name in request.headers
        }
        # As a reverse proxy does: the lab names URLs (the access answer's url, Link) on the
        # origin the device asked, so the device's token stays on that origin.
        headers["Host"] = request.host
        headers["X-Forwarded-Proto"] = request.scheme
        try:
            async with self.http.request(
                request.method,
                f"{self.upstream}{request.path_qs}",
                data=body or None,
                headers=headers,
                timeout=UPSTREAM_TIMEOUT,
            ) as upstream:
                payload = await upstream.content.read(MAX_BODY)
                passed = {h: upstream.headers[h] for h in PASSED_HEADERS if h in upstream.headers}
                return web.Response(status=upstream.status, body=payload, headers=passed)
        except (aiohttp.ClientError, TimeoutError) as error:
            return web.json_response({"error": f"upstream: {error!r}"}, status=502)


async def serve(args: argparse.Namespace) -> None:
    host, _, port = args.listen.rpartition(":")
    gate = Gate(args.upstream, args.fail, args.retry_after)
    app = web.Application(client_max_size=MAX_BODY)
    app.router.add_route("*", "/{tail:.*}", gate.handle)
    tls = None
    if args.tls_cert:
        tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        tls.load_cert_chain(args.tls_cert, args.tls_key)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGUSR1, gate.open)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
    await runner.setup()
    async with aiohttp.ClientSession() as http:
        gate.http = http
        try:
            await web.TCPSite(runner, host, int(port), ssl_context=tls).start()
            emit("listening", url=f"{'https' if tls else 'http'}://{host}:{port}")
            await stop.wait()
        finally:
            await runner.cleanup()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--listen", required=True, metavar="ADDR:PORT")
    parser.add_argument("--upstream", required=True, metavar="URL")
    parser.add_argument("--fail", type=int, metavar="STATUS")
    parser.add_argument("--retry-after", metavar="VALUE")
    parser.add_argument("--tls-cert")
    parser.add_argument("--tls-key")
    asyncio.run(serve(parser.parse_args()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
