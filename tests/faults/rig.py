"""The fault rig: the lab and a device as processes in their own namespaces, and what they say.

Shared by the pytest fault tier (``tests/faults``) and the matrix (``scripts/faults``),
so both measure the same thing the same way. Processes are the installed CLI started
with ``ip netns exec``; they are killed by process group when the rig is closed, and
the namespaces are deleted after them.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from alo_edge.lab import mint_token
from tests.faults.natlab import NatNet
from tests.faults.netlab import NetPair, remove_leftovers
from tests.helpers import (
    STEP,
    Proc,
    Processes,
    alo_edge_command,
    device_config,
    http_json,
    write_toml,
)
from tests.media_support import SENSORS

LAB_PORT = 8080
GATE_PORT = 8443
USER = "door-1"
CHANNEL = "front-door"
#: The device's own status endpoint, on the loopback of its namespace.
DEVICE_STATUS = "127.0.0.1:8787"
#: The video a door camera sends: 720p30 H.264 from picamera2's encoder, passed through
#: (the tests' stand-in sensor: libx264 on the encoder's thread), an IDR every 2 s.
CAMERA_720P: dict[str, Any] = {
    "source": "picamera2",
    "width": 1280,
    "height": 720,
    "fps": 30,
    "bitrate": 2_000_000,
    "keyframe_interval": 2.0,
}


def process_health(pid: int) -> dict[str, int]:
    """RSS (KiB), threads and open file descriptors of a live process, from /proc."""
    fields: dict[str, int] = {}
    for line in Path(f"/proc/{pid}/status").read_text(encoding="utf-8").splitlines():
        name, _, value = line.partition(":")
        if name == "VmRSS":
            fields["rss_kib"] = int(value.split()[0])
        elif name == "Threads":
            fields["threads"] = int(value)
    fields["fds"] = len(os.listdir(f"/proc/{pid}/fd"))
    return fields


class FaultRig:
    """One lab, one device, one pair of namespaces; :meth:`close` undoes all of it."""

    def __init__(self, workdir: Path, tag: str, net: NetPair | NatNet | None = None) -> None:
        """``net``: the namespaces (not yet created); a device and a lab on one veth by default."""
        remove_leftovers()
        self.workdir = workdir
        self.procs = Processes()
        self.net: NetPair | NatNet = net or NetPair(tag, LAB_PORT)
        self.net.create()
        self.lab: Proc | None = None
        self.gate: Proc | None = None
        self.device: Proc | None = None
        self.delay: Proc | None = None
        self.state_dir = workdir / "lab-state"
        self.token_file = workdir / "token"
        #: More `alo-edge lab` flags, kept for a restart (e.g. --end-sessions-at-expiry).
        self.lab_options: list[str] = []
        self.lab_url = f"http://{self.net.lab_address}:{LAB_PORT}"

    def close(self) -> None:
        """Kill every process (by process group), then delete the namespaces."""
        try:
            self.procs.cleanup()
        finally:
            self.net.destroy()

    # --- the lab -----------------------------------------------------------------------

    def start_lab(self, *options: str, timeout: float = STEP) -> Proc:
        """``alo-edge lab`` on the lab's veth address, offering it as its host candidate.

        ``options``: more ``alo-edge lab`` options (``--turn URL`` ...).
        """
        self.lab = self.procs.start(
            self.net.in_lab(
                *alo_edge_command(),
                "lab",
                "--listen",
                f"{self.net.lab_address}:{LAB_PORT}",
                "--host-address",
                self.net.lab_address,
                "--state-dir",
                str(self.state_dir),
                *self.lab_options,
                *options,
            ),
            name="lab",
        )
        deadline = time.monotonic() + timeout
        while True:
            if not self.lab.running:
                self.lab.stdout_done()
                raise AssertionError(f"lab exited:\n{self.lab.stderr.tail()}")
            with contextlib.suppress(OSError, TimeoutError):
                if self.lab_request("GET", "/api/channels", timeout=1.0)[0] == 200:
                    return self.lab
            if time.monotonic() >= deadline:
                raise AssertionError(f"lab did not answer within {timeout:g} s")
            time.sleep(0.05)

    def lab_request(
        self, method: str, path: str, *, token: str | None = None, timeout: float = 5.0
    ) -> tuple[int, Any]:
        """One HTTP request to the lab, made from inside its namespace."""
        url = f"{self.lab_url}{path}"
        return self.net.call_in_lab(
            lambda: http_json(method, url, token=token, timeout=timeout), timeout + 1
        )

    def channel(self, latency_since: float | None = None) -> dict[str, Any] | None:
        """The lab's report on the test channel (None before anything was published).

        ``latency_since`` (epoch seconds): latency percentiles over pictures since then.
        """
        query = "" if latency_since is None else f"?latencySince={latency_since:.3f}"
        status, body = self.lab_request("GET", f"/api/channels{query}")
        assert status == 200, body
        report: dict[str, Any] | None = body["channels"].get(CHANNEL)
        return report

    def wait_for_channel(
        self, predicate: Callable[[dict[str, Any]], bool], timeout: float = STEP
    ) -> dict[str, Any]:
        """Poll the lab until the channel report satisfies ``predicate``; bounded."""
        deadline = time.monotonic() + timeout
        while True:
            report = self.channel()
            if report is not None and predicate(report):
                return report
            if time.monotonic() >= deadline:
                raise AssertionError(f"channel after {timeout:g} s: {report}")
            time.sleep(0.2)

    @property
    def secret(self) -> str:
        return (self.state_dir / "secret").read_text(encoding="utf-8").strip()

    def mint(self, ttl_minutes: float = 60.0) -> str:
        """A token the lab accepts, signed with its secret."""
        return mint_token(self.secret, USER, ttl_minutes, time.time())

    def write_token(self, token: str) -> None:
        """Put ``token`` in place atomically (as a rotation would), readable by root only."""
        staging = self.token_file.with_name(f".{self.token_file.name}.new")
        staging.write_text(token + "\n", encoding="utf-8")
        staging.chmod(0o600)
        os.replace(staging, self.token_file)

    def issue_client_secret(self) -> Path:
        """``alo-edge token --client`` against the lab, as an operator runs it; the 0600 file."""
        out = self.workdir / "client-secret"
        result = subprocess.run(
            self.net.in_lab(
                *alo_edge_command(),
                "token",
                "--lab",
                self.lab_url,
                "--api-key-file",
                str(self.state_dir / "api_key"),
                "--client",
                USER,
                "--out",
                str(out),
            ),
            capture_output=True,
            text=True,
            timeout=STEP,
            check=False,
        )
        assert result.returncode == 0, result.stderr
        return out

    # --- a gate in front of the lab (HTTP faults, TLS) ---------------------------------

    def start_gate(self, *options: str) -> Proc:
        """``tests.faults.gate`` in the lab namespace, in front of the lab; see its options."""
        self.gate = self.procs.start(
            self.net.in_lab(
                sys.executable,
                "-m",
                "tests.faults.gate",
                "--listen",
                f"{self.net.lab_address}:{GATE_PORT}",
                "--upstream",
                self.lab_url,
                *options,
            ),
            name="gate",
        )
        self.gate.wait_for(lambda e: e.get("event") == "listening", what="the gate listening")
        return self.gate

    def gate_requests(self) -> list[dict[str, Any]]:
        """Every request the gate has seen so far, oldest first."""
        assert self.gate is not None
        return [e for e in self.gate.events.snapshot() if e.get("event") == "request"]

    # --- the device --------------------------------------------------------------------

    def start_device(
        self,
        *,
        reconnect: dict[str, Any] | None = None,
        access_url: str | None = None,
        token_url: str | None = None,
        client_secret_file: Path | None = None,
        name: str = "device",
        video: dict[str, Any] | None = None,
        alo: dict[str, Any] | None = None,
        env: dict[str, str] | None = None,
    ) -> Proc:
        """``alo-edge run --events -`` in the device namespace, pinned to its veth address.

        With ``token_url`` (and ``client_secret_file``) the device fetches its own tokens
        instead of reading the token file. ``video``: the ``[video]`` table; the default is
        :data:`CAMERA_720P`, from the picamera2 stand-in in tests/sensors (put on the
        device's PYTHONPATH). ``alo``: more ``[alo]`` keys (``ice_servers`` ...); ``env``:
        more environment variables.
        """
        if token_url is None and not self.token_file.exists():
            self.write_token(self.mint())
        document = device_config(
            user_id=USER,
            channel=CHANNEL,
            token_file=self.token_file,
            access_url=access_url or f"{self.lab_url}/v1/video/access",
            reconnect=reconnect,
        )
        document["network"]["host_addresses"] = [self.net.device_address]
        # The lab is on a veth address, not loopback: plain http there needs saying so.
        document["network"]["allow_insecure"] = True
        if token_url is not None:
            del document["alo"]["token_file"]
            document["alo"].update(
                token_url=token_url, client_id=USER, client_secret_file=str(client_secret_file)
            )
        document["alo"].update(alo or {})
        document["video"] = dict(CAMERA_720P if video is None else video)
        document["status"] = {"listen": DEVICE_STATUS}
        config = write_toml(self.workdir / f"{name}.toml", document)
        config.chmod(0o600)
        command = [*alo_edge_command(), "run", "-c", str(config), "--events", "-"]
        variables = [f"{k}={v}" for k, v in {"PYTHONPATH": str(SENSORS), **(env or {})}.items()]
        self.device = self.procs.start(self.net.in_device("env", *variables, *command), name=name)
        return self.device

    def device_status(self, timeout: float = 5.0) -> dict[str, Any]:
        """The device's ``GET /status``, asked from inside its namespace."""
        url = f"http://{DEVICE_STATUS}/status"
        status, body = self.net.call_in_device(
            lambda: http_json("GET", url, timeout=timeout), timeout + 1
        )
        assert status == 200, body
        document: dict[str, Any] = body
        return document

    # --- a delaying link (no netem here) ------------------------------------------------

    def start_delay(self, delay_ms: float, jitter_ms: float) -> Proc:
        """Route device <-> lab through :mod:`tests.faults.delay_link`; ready when it says so."""
        self.delay = self.procs.start(
            [
                sys.executable, "-m", "tests.faults.delay_link",
                "--device-ns", self.net.device_ns, "--lab-ns", self.net.lab_ns,
                "--device-address", self.net.device_address,
                "--lab-address", self.net.lab_address,
                "--delay-ms", str(delay_ms), "--jitter-ms", str(jitter_ms),
            ],
            name="delay",
        )  # fmt: skip
        self.delay.wait_for(lambda e: e.get("event") == "ready", what="the delay link")
        return self.delay

    def stop_delay(self) -> None:
        """Back to the plain veth: killing the relay removes its interfaces and routes."""
        if self.delay is not None:
            self.delay.kill()
            self.delay = None

    def device_health(self) -> dict[str, int]:
        assert self.device is not None
        return process_health(self.device.pid)

    def signal_lab(self, signum: signal.Signals) -> None:
        assert self.lab is not None
        self.lab.signal(signum)
