"""Headless Chromium driven over the DevTools protocol with aiohttp: no driver, no npm.

Chromium picks its own debugging port (``--remote-debugging-port=0``) and writes it to
``DevToolsActivePort`` in its fresh profile directory; we read it from there, connect
to the browser's websocket and attach to one page with flattened sessions.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import json
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import aiohttp

#: Flags that keep Chromium quiet and working on a closed, GPU-less, root CI machine.
BASE_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--disable-dev-shm-usage",
    "--mute-audio",
    "--window-size=900,700",
)
#: WebRTC on loopback: real host candidates instead of mDNS ``.local`` names (aiortc cannot
#: resolve those), loopback interfaces allowed, and a fake camera/microphone that needs no
#: permission prompt (its microphone is a beep tone).
WEBRTC_FLAGS = (
    "--disable-features=WebRtcHideLocalIpsWithMdns",
    "--allow-loopback-in-peer-connection",
    "--use-fake-ui-for-media-stream",
    "--use-fake-device-for-media-stream",
    "--autoplay-policy=no-user-gesture-required",
)


def chromium_path() -> str | None:
    """The Chromium binary (Debian's package installs /usr/bin/chromium)."""
    return shutil.which("chromium") or shutil.which("chromium-browser")


class Chromium:
    """One Chromium process in its own process group, with a throwaway profile."""

    def __init__(self, profile: Path, flags: Sequence[str] = ()) -> None:
        self.profile = profile
        self.flags = list(flags)
        self.popen: subprocess.Popen[bytes] | None = None
        self.websocket_url: str | None = None
        self.log = profile.parent / f"{profile.name}.log"

    def start(self, timeout: float = 20.0) -> str:
        """Start Chromium; returns the browser's DevTools websocket URL."""
        binary = chromium_path()
        assert binary is not None, "chromium is not installed (scripts/setup installs it)"
        self.profile.mkdir(parents=True, exist_ok=False)
        with self.log.open("wb") as log:
            self.popen = subprocess.Popen(
                [
                    binary,
                    *BASE_FLAGS,
                    *self.flags,
                    "--remote-debugging-port=0",
                    f"--user-data-dir={self.profile}",
                    "about:blank",
                ],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        active = self.profile / "DevToolsActivePort"
        deadline = time.monotonic() + timeout
        while True:
            with contextlib.suppress(FileNotFoundError):
                lines = active.read_text().splitlines()
                if len(lines) >= 2:
                    self.websocket_url = f"ws://127.0.0.1:{lines[0]}{lines[1]}"
                    return self.websocket_url
            if self.popen.poll() is not None:
                raise AssertionError(
                    f"chromium exited with {self.popen.returncode}:\n{self.tail()}"
                )
            if time.monotonic() > deadline:
                raise AssertionError(f"chromium wrote no DevToolsActivePort in {timeout:g} s")
            time.sleep(0.05)

    def tail(self, count: int = 20) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-count:])
        except FileNotFoundError:
            return ""

    def kill(self) -> None:
        """SIGKILL the whole process group (renderers, GPU and audio helpers) and reap it."""
        if self.popen is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.popen.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.popen.wait(10)


class Page:
    """One page target over a flattened DevTools session."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self._ws = ws
        self._ids = itertools.count(1)
        self._pending: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._reader = asyncio.create_task(self._read(), name="cdp-reader")
        self.session_id: str | None = None
        self.console: list[str] = []

    @classmethod
    async def open(cls, http: aiohttp.ClientSession, browser_ws: str) -> Page:
        ws = await http.ws_connect(browser_ws, max_msg_size=64 * 1024 * 1024)
        page = cls(ws)
        target = await page.send("Target.createTarget", {"url": "about:blank"}, browser=True)
        attached = await page.send(
            "Target.attachToTarget", {"targetId": target["targetId"], "flatten": True}, browser=True
        )
        page.session_id = attached["sessionId"]
        await page.send("Runtime.enable")
        await page.send("Page.enable")
        return page

    async def _read(self) -> None:
        async for message in self._ws:
            if message.type != aiohttp.WSMsgType.TEXT:
                continue
            data = json.loads(message.data)
            future = self._pending.pop(data.get("id", -1), None)
            if future is not None and not future.done():
                future.set_result(data)
            elif data.get("method") == "Runtime.consoleAPICalled":
                args = data["params"].get("args", [])
                self.console.append(
                    " ".join(str(a.get("value", a.get("description"))) for a in args)
                )
        for future in self._pending.values():
            if not future.done():
                future.set_exception(ConnectionError("DevTools connection closed"))

    async def send(
        self,
        method: str,
        params: dict[str, Any] | None = None,
        *,
        browser: bool = False,
        timeout: float = 15.0,
    ) -> dict[str, Any]:
        """Call ``method`` on the page (or on the browser) and return its result."""
        message: dict[str, Any] = {"id": next(self._ids), "method": method, "params": params or {}}
        if not browser:
            message["sessionId"] = self.session_id
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[message["id"]] = future
        await self._ws.send_str(json.dumps(message))
        reply = await asyncio.wait_for(future, timeout)
        if "error" in reply:
            raise AssertionError(f"{method} failed: {reply['error']}")
        result: dict[str, Any] = reply.get("result", {})
        return result

    async def evaluate(self, expression: str) -> Any:
        """The value of a JavaScript expression (awaited when it is a promise)."""
        result = await self.send(
            "Runtime.evaluate",
            {"expression": expression, "awaitPromise": True, "returnByValue": True},
        )
        if "exceptionDetails" in result:
            raise AssertionError(f"{expression!r} threw: {result['exceptionDetails']}")
        return result["result"].get("value")

    async def wait_for(self, expression: str, timeout: float, what: str) -> Any:
        """Poll ``expression`` until it is truthy; bounded, reports the last value."""
        deadline = time.monotonic() + timeout
        value: Any = None
        while time.monotonic() < deadline:
            value = await self.evaluate(expression)
            if value:
                return value
            await asyncio.sleep(0.1)
        raise AssertionError(f"waited {timeout:g} s for {what}; last value {value!r}")

    async def navigate(self, url: str) -> None:
        await self.send("Page.navigate", {"url": url})
        await self.wait_for("document.readyState === 'complete'", 15.0, f"{url} to load")

    async def screenshot(self) -> bytes:
        """A PNG of the page as it is now."""
        shot = await self.send("Page.captureScreenshot", {"format": "png"})
        return base64.b64decode(shot["data"])

    async def mouse(self, kind: str, x: float, y: float) -> None:
        """A real mouse event (``mousePressed``, ``mouseReleased``, ``mouseMoved``)."""
        params: dict[str, Any] = {"type": kind, "x": x, "y": y, "button": "left"}
        if kind != "mouseMoved":
            params["clickCount"] = 1
        await self.send("Input.dispatchMouseEvent", params)

    async def close(self) -> None:
        self._reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._reader
        await self._ws.close()
