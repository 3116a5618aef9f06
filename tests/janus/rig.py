"""Debian's Janus in a private network namespace, and the processes a test runs beside it.

Janus never gathers ICE candidates on a loopback interface, so the namespace gets a
veth ``va`` (its peer ``vb`` stays inside too) carrying 127.0.0.2/32; Janus is told
``interface = "127.0.0.2"`` and ``ice_enforce_list = "va"``, and every aiortc peer
(the device, the test's peers) pins its host candidate to 127.0.0.2 in the same
namespace. Nothing is reachable from there but the namespace itself.

The config is written by the rig: only the VideoRoom plugin and the WebSockets and
HTTP transports are loaded (symlinked into private plugin folders), the session
timeout is short, and room ``ROOM`` is configured statically so it survives a
restart of Janus. Every process is started with ``ip netns exec`` in its own
process group and killed by PID when the rig closes, pass or fail; the namespace is
deleted after them, and namespaces of killed runs (owner PID gone) are removed when
a rig is made.
"""

from __future__ import annotations

import os
import shutil
import socket
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from tests import netns
from tests.helpers import STEP, Proc, alo_edge_command, write_toml
from tests.netns import COMMAND_TIMEOUT, call_in_namespace, delete_namespace, sh

PREFIX = "aloedge-j-"
ADDRESS = "127.0.0.2"
WS_PORT = 8188
HTTP_PORT = 8088
ROOM = 1234
#: Janus's session timeout in the rig; its watchdog checks every 2 s.
SESSION_TIMEOUT = 10
WS_URL = f"ws://{ADDRESS}:{WS_PORT}"
HTTP_URL = f"http://{ADDRESS}:{HTTP_PORT}/janus"
REPO = Path(__file__).resolve().parents[2]
_JANUS_LIBS = ("plugins/libjanus_videoroom.so", "transports/libjanus_websockets.so",
               "transports/libjanus_http.so")  # fmt: skip

T = TypeVar("T")


def janus_lib_dir() -> Path | None:
    """Where Debian's janus package keeps its plugins (multiarch path), if installed."""
    for candidate in sorted(Path("/usr/lib").glob("*/janus")):
        if all((candidate / lib).exists() for lib in _JANUS_LIBS):
            return candidate
    return None


def unavailable() -> str | None:
    """Why this machine cannot run the Janus tier, or None when it can."""
    if os.geteuid() != 0:
        return "the Janus tier needs root (a network namespace for Janus and its peers)"
    if shutil.which("ip") is None:
        return "the Janus tier needs 'ip' (apt-get install iproute2)"
    if shutil.which("janus") is None or janus_lib_dir() is None:
        return "the Janus tier needs Debian's janus package (scripts/setup installs it)"
    return None


def remove_leftovers() -> list[str]:
    """Delete this tier's namespaces of earlier runs whose owning process is gone."""
    return netns.remove_leftovers(PREFIX)


def _accepts(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.settimeout(0.5)
        return probe.connect_ex((ADDRESS, port)) == 0


def _janus_config(folder: Path, libs: Path, session_timeout: int) -> dict[str, str]:
    plugins, transports = folder / "plugins", folder / "transports"
    return {
        "janus.jcfg": f"""
general: {{
    configs_folder = "{folder}"
    plugins_folder = "{plugins}"
    transports_folder = "{transports}"
    events_folder = "{folder / "none"}"
    loggers_folder = "{folder / "none"}"
    debug_level = 4
    debug_timestamps = true
    interface = "{ADDRESS}"
    session_timeout = {session_timeout}
}}
media: {{
    rtp_port_range = "20000-20999"
}}
nat: {{
    ice_enforce_list = "va"
}}
""",
        "janus.plugin.videoroom.jcfg": f"""
general: {{
}}
room-{ROOM}: {{
    description = "alo-edge Janus tier"
    publishers = 6
    videocodec = "h264"
    audiocodec = "opus"
    notify_joining = true
    fir_freq = 0
}}
""",
        "janus.transport.websockets.jcfg": f"""
general: {{
    json = "plain"
    ws = true
    ws_port = {WS_PORT}
    ws_ip = "{ADDRESS}"
    wss = false
}}
admin: {{
    admin_ws = false
    admin_wss = false
}}
""",
        "janus.transport.http.jcfg": f"""
general: {{
    json = "plain"
    base_path = "/janus"
    http = true
    port = {HTTP_PORT}
    ip = "{ADDRESS}"
    https = false
}}
admin: {{
    admin_http = false
    admin_https = false
}}
""",
    }


class JanusRig:
    """One namespace, one Janus, and the processes of one test; :meth:`close` undoes it all."""

    def __init__(self, workdir: Path, tag: str, *, session_timeout: int = SESSION_TIMEOUT) -> None:
        for leftover in remove_leftovers():
            print(f"removed leftover of a killed run: {leftover}", file=sys.stderr)
        self.workdir = workdir
        self.namespace = netns.namespace_name(PREFIX, tag)
        self.session_timeout = session_timeout
        self.config_dir = workdir / "janus"
        self.janus: Proc | None = None
        self.janus_starts = 0
        self._procs: list[Proc] = []
        self._created = False

    # --- life cycle ----------------------------------------------------------------------

    def create(self) -> None:
        """The namespace with ``lo`` and the veth pair up, and Janus's config written."""
        sh("ip", "netns", "add", self.namespace)
        self._created = True
        sh("ip", "-n", self.namespace, "link", "set", "lo", "up")
        sh(
            "ip", "link", "add", "va", "netns", self.namespace, "type", "veth",
            "peer", "name", "vb", "netns", self.namespace,
        )  # fmt: skip
        sh("ip", "-n", self.namespace, "addr", "add", f"{ADDRESS}/32", "dev", "va")
        for interface in ("va", "vb"):
            sh("ip", "-n", self.namespace, "link", "set", interface, "up")
        libs = janus_lib_dir()
        assert libs is not None
        self.config_dir.mkdir(parents=True)
        for lib in _JANUS_LIBS:
            folder = self.config_dir / lib.split("/")[0]
            folder.mkdir(exist_ok=True)
            (folder / Path(lib).name).symlink_to(libs / lib)
        for name, text in _janus_config(self.config_dir, libs, self.session_timeout).items():
            (self.config_dir / name).write_text(text, encoding="utf-8")

    def close(self) -> None:
        """Kill every process (by PID, process group), then delete the namespace."""
        try:
            for proc in reversed(self._procs):
                proc.kill()
            self._procs.clear()
        finally:
            if self._created:
                delete_namespace(self.namespace)
                self._created = False

    # --- processes -----------------------------------------------------------------------

    def command(self, *args: str) -> list[str]:
        """``args`` prefixed to run inside the namespace."""
        return ["ip", "netns", "exec", self.namespace, *args]

    def start(self, args: Sequence[str], *, name: str, env: dict[str, str] | None = None) -> Proc:
        """Start ``args`` inside the namespace (own process group; killed by :meth:`close`)."""
        full_env = dict(os.environ)
        full_env["PYTHONPATH"] = str(REPO)
        full_env.update(env or {})
        proc = Proc(self.command(*args), name=name, env=full_env)
        self._procs.append(proc)
        return proc

    def call(self, function: Callable[[], T], timeout: float = COMMAND_TIMEOUT) -> T:
        """Run ``function`` with the namespace's network (to reach 127.0.0.2)."""
        return call_in_namespace(self.namespace, function, timeout)

    def start_janus(self, timeout: float = STEP) -> Proc:
        """Start Janus and wait until both of its transports accept connections."""
        self.janus_starts += 1
        self.janus = self.start(
            ["janus", "-F", str(self.config_dir), "-C", str(self.config_dir / "janus.jcfg")],
            name=f"janus-{self.janus_starts}",
        )
        deadline = time.monotonic() + timeout
        while not self.call(lambda: _accepts(WS_PORT) and _accepts(HTTP_PORT)):
            if not self.janus.running:
                raise AssertionError(f"janus exited:\n{self.janus.events.tail(40)}")
            if time.monotonic() >= deadline:
                raise AssertionError(f"janus did not listen within {timeout:g} s")
            time.sleep(0.05)
        return self.janus

    def kill_janus(self) -> None:
        """SIGKILL Janus (by its PID) and reap it: the server vanishes without a word."""
        assert self.janus is not None
        self.janus.kill()

    def device(self, config: Path, *, env: dict[str, str] | None = None) -> Proc:
        """``alo-edge run -c CONFIG --events -``: the real service, inside the namespace."""
        return self.start(
            [*alo_edge_command(), "run", "-c", str(config), "--events", "-"],
            name="device",
            env=env,
        )

    def driven_device(self, config: Path, *, env: dict[str, str] | None = None) -> Proc:
        """The device built by the real composition root, with signals for local mutes."""
        return self.start(
            [sys.executable, "-m", "tests.janus.device", str(config)], name="device", env=env
        )

    def peer(self, *args: str, name: str) -> Proc:
        """The test's own Janus client (``tests/janus/peer.py``) inside the namespace."""
        return self.start(
            [sys.executable, "-m", "tests.janus.peer", "--url", HTTP_URL, "--room", str(ROOM),
             *args],
            name=name,
        )  # fmt: skip


def device_config(
    path: Path,
    token_file: Path,
    *,
    name: str = "Front door",
    video: dict[str, Any] | None = None,
    audio: dict[str, Any] | None = None,
    reconnect: dict[str, Any] | None = None,
) -> Path:
    """A Janus device: room ROOM (the channel), 127.0.0.2 host candidates, 320x240 at 30 fps."""
    token_file.write_text("janus-tier-token\n", encoding="utf-8")
    document: dict[str, dict[str, Any]] = {
        "device": {"user_id": "door-1", "name": name, "device_id": "pi-front"},
        "alo": {
            "transport": "janus",
            "url": WS_URL,
            "channel": str(ROOM),
            "token_file": str(token_file),
        },
        "network": {"host_addresses": [ADDRESS]},
        "video": video or {"source": "synthetic", "width": 320, "height": 240, "fps": 30},
        "audio": audio or {"source": "synthetic"},
        "reconnect": reconnect or {"initial_delay": 0.5, "max_delay": 2.0},
        "status": {"listen": ""},
    }
    return write_toml(path, document)
