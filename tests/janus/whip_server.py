"""Meetecho's simple-whip-server (Debian's package, Node) in front of the rig's Janus.

``apt-get install simple-whip-server`` conflicts with a newer Node on this kind of
machine, so ``scripts/setup`` unpacks it and the node modules it requires into
:data:`CACHE` (root only); the server runs from there with ``NODE_PATH`` set, inside
the rig's namespace, listening on 127.0.0.2. Its behaviour that matters here (from
FIELD-NOTES): it answers a wrong token with 403, wants ``Content-Type`` exactly
``application/sdp``, returns a relative ``Location``, allows one live session per
endpoint, and never times out a publisher whose DELETE was lost: every later POST
gets 403 "Endpoint ID already in use". Its keep-alive to Janus is every 15 s, so the
rig's Janus needs a longer session timeout.
"""

from __future__ import annotations

import json
import shutil
import time
import urllib.error
import urllib.request
from pathlib import Path

from tests.helpers import STEP, Proc
from tests.janus.rig import ADDRESS, WS_PORT, JanusRig

CACHE = Path("/var/cache/alo-edge-tests/simple-whip-server")
PORT = 7080
BASE = f"http://{ADDRESS}:{PORT}/whip"
#: Where the test asks the server's REST API: it listens on every address of the namespace,
#: and an outage test drops only the device's traffic to ADDRESS.
ADMIN = f"http://127.0.0.1:{PORT}/whip"
#: Janus's session timeout when this server is in front of it (its keep-alive is 15 s).
JANUS_SESSION_TIMEOUT = 60


def _sources() -> Path:
    return CACHE / "usr/share/simple-whip-server/src"


def unavailable() -> str | None:
    """Why the WHIP server cannot run here, or None when it can."""
    if shutil.which("node") is None:
        return "simple-whip-server needs node (scripts/setup installs nodejs)"
    if not (_sources() / "server.js").exists() or not (CACHE / ".stamp").exists():
        return f"simple-whip-server is not unpacked in {CACHE} (run scripts/setup as root)"
    return None


def node_path() -> str:
    """NODE_PATH for Debian's node modules unpacked into the cache (arch-independent + arch)."""
    folders = [CACHE / "usr/share/nodejs", *sorted(CACHE.glob("usr/lib/*/nodejs"))]
    return ":".join(str(folder) for folder in folders)


class WhipServer:
    """One simple-whip-server in ``rig``'s namespace; its process dies with the rig."""

    def __init__(self, rig: JanusRig, workdir: Path) -> None:
        self.rig = rig
        self.folder = workdir / "simple-whip-server"
        self.proc: Proc | None = None

    def start(self, timeout: float = STEP) -> Proc:
        """Copy the server next to its own config.js (it reads ``./config.js``) and start it."""
        self.folder.mkdir(parents=True)
        for name in ("server.js", "whip-janus.js"):
            shutil.copy(_sources() / name, self.folder / name)
        config = {"janus": {"address": f"ws://{ADDRESS}:{WS_PORT}"}, "port": PORT,
                  "rest": "/whip", "allowTrickle": True, "strictETags": False,
                  "iceServers": []}  # fmt: skip
        (self.folder / "config.js").write_text(
            f"module.exports = {json.dumps(config)};\n", encoding="utf-8"
        )
        self.proc = self.rig.start(
            ["node", str(self.folder / "server.js")],
            name="simple-whip-server",
            env={"NODE_PATH": node_path(), "DEBUG": "whip:*,janus:*,-janus:vdebug"},
        )
        deadline = time.monotonic() + timeout
        while True:
            if not self.proc.running:
                raise AssertionError(f"simple-whip-server exited:\n{self.proc.events.tail(30)}")
            try:
                if self.request("GET", "/healthcheck")[0] == 200:
                    return self.proc
            except OSError:
                pass  # not listening yet (or not connected to Janus yet)
            if time.monotonic() >= deadline:
                raise AssertionError(
                    f"simple-whip-server did not answer within {timeout:g} s:\n"
                    f"{self.proc.events.tail(30)}\n{self.proc.stderr.tail(30)}"
                )
            time.sleep(0.1)

    def request(
        self, method: str, path: str, body: dict[str, object] | None = None
    ) -> tuple[int, str]:
        """One request to the server's REST API, from inside the namespace."""

        def call() -> tuple[int, str]:
            data = None if body is None else json.dumps(body).encode()
            request = urllib.request.Request(f"{ADMIN}{path}", data=data, method=method)
            if data is not None:
                request.add_header("Content-Type", "application/json")
            try:
                with urllib.request.urlopen(request, timeout=5.0) as response:
                    return response.status, response.read().decode()
            except urllib.error.HTTPError as error:
                with error:
                    return error.code, error.read().decode()

        return self.rig.call(call)

    def create_endpoint(self, endpoint: str, room: int, token: str) -> str:
        """Create the WHIP endpoint ``endpoint`` publishing into ``room``; its URL."""
        settings = {"id": endpoint, "room": room, "token": token}
        status, text = self.request("POST", "/create", settings)
        assert status == 200, (status, text)
        return f"{BASE}/endpoint/{endpoint}"

    def endpoints(self) -> list[dict[str, object]]:
        status, text = self.request("GET", "/endpoints")
        assert status == 200, (status, text)
        listed: list[dict[str, object]] = json.loads(text)
        return listed
