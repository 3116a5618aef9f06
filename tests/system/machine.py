"""A booted systemd-nspawn container, and the host-side processes the system tier starts.

Nothing here is simulated: the container runs the rootfs's own systemd as PID 1 with its own
journald; commands run inside through ``nsenter`` into all of its namespaces. Every process
this module starts dies with the test run (``setpriv --pdeathsig``), and a run that was killed
anyway is cleaned up by the next one (:func:`remove_leftovers`). Every wait is bounded.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import time
import urllib.request
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

#: Machine names carry the pid of the pytest process that owns them.
MACHINE_PREFIX = "alo-edge-test-"
CONTAINER_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
NSPAWN_PROPAGATE_DIR = Path("/run/systemd/nspawn/propagate")

T = TypeVar("T")


class WaitTimeout(AssertionError):
    """A bounded wait ran out; the message says what was awaited."""


def wait_until(
    probe: Callable[[], T | None], timeout: float, what: str, interval: float = 0.2
) -> T:
    """Call ``probe`` until it returns something other than None/False, at most ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while True:
        result = probe()
        if result is not None and result is not False:
            return result
        if time.monotonic() >= deadline:
            raise WaitTimeout(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


def dies_with_us(argv: Sequence[str]) -> list[str]:
    """``argv`` wrapped so the kernel sends it SIGTERM when this test process dies."""
    return ["setpriv", "--pdeathsig", "TERM", "--", *argv]


def pid_alive(pid: int) -> bool:
    """True while ``pid`` runs; a zombie (exited, not yet reaped) counts as gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _children(pid: int) -> list[int]:
    try:
        tasks = Path(f"/proc/{pid}/task").iterdir()
        return [int(c) for task in tasks for c in (task / "children").read_text().split()]
    except (FileNotFoundError, ProcessLookupError):
        return []


def _container_init(nspawn_pid: int) -> int | None:
    """The host pid of the container's PID 1: the descendant whose innermost pid is 1."""
    pending = _children(nspawn_pid)
    while pending:
        pid = pending.pop()
        try:
            status = Path(f"/proc/{pid}/status").read_text()
        except FileNotFoundError:
            continue
        for line in status.splitlines():
            if line.startswith("NSpid:") and line.split()[-1] == "1" and len(line.split()) > 2:
                return pid
        pending.extend(_children(pid))
    return None


def _wait_gone(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while pid_alive(pid):
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.1)
    return True


def machine_cgroups(name: str) -> list[Path]:
    """A cgroup named ``name`` below ours in each hierarchy systemd uses (v2, v1 name=systemd).

    With ``--keep-unit`` and no host systemd to ask for a scope, nspawn puts the container in
    its caller's cgroup; two containers (two test runs at once) would then share
    ``payload/system.slice/alo-edge.service`` and see each other's cgroups empty or not.
    """
    dirs: list[Path] = []
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        hierarchy, controllers, path = line.split(":", 2)
        if hierarchy == "0" and not controllers:
            hybrid = Path("/sys/fs/cgroup/unified")
            mount = hybrid if (hybrid / "cgroup.procs").exists() else Path("/sys/fs/cgroup")
        elif controllers == "name=systemd":
            mount = Path("/sys/fs/cgroup/systemd")
        else:
            continue
        if (mount / "cgroup.procs").exists():
            dirs.append(mount / path.lstrip("/") / name)
    return dirs


def remove_cgroup_tree(top: Path) -> None:
    """rmdir ``top`` and its sub-cgroups, deepest first (a cgroup goes once it is empty)."""
    if not top.is_dir():
        return
    subdirs = [d for d in top.rglob("*") if d.is_dir()]
    for directory in [*sorted(subdirs, key=lambda d: len(d.parts), reverse=True), top]:
        with contextlib.suppress(OSError):
            directory.rmdir()


#: Moves the shell into each cgroup given before ``--``, then execs the rest.
_ENTER_CGROUPS = (
    'while [ "$1" != -- ]; do echo $$ > "$1/cgroup.procs" || exit 97; shift; done; shift; exec "$@"'
)


def stop_machine(nspawn_pid: int, init_pid: int | None, timeout: float = 15.0) -> None:
    """Power the container off (SIGTERM to nspawn); SIGKILL its whole pid namespace if stuck."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(nspawn_pid, signal.SIGTERM)
    if _wait_gone(nspawn_pid, timeout):
        return
    for pid in (init_pid, nspawn_pid):  # killing PID 1 of a namespace kills all of it
        if pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
    if not _wait_gone(nspawn_pid, 5.0):
        raise RuntimeError(f"systemd-nspawn (pid {nspawn_pid}) survived SIGKILL")


def _cmdline(pid: int) -> list[str]:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return []
    return [part.decode(errors="replace") for part in raw.split(b"\0") if part]


def remove_leftovers() -> list[str]:
    """Stop machines (and their propagate dirs) whose owning test run is gone; say which."""
    removed: list[str] = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        argv = _cmdline(int(entry.name))
        if not argv or not argv[0].endswith("systemd-nspawn"):
            continue
        names = [a.split("=", 1)[1] for a in argv if a.startswith(f"--machine={MACHINE_PREFIX}")]
        if not names:
            continue
        owner = names[0].removeprefix(MACHINE_PREFIX)
        if owner.isdigit() and not pid_alive(int(owner)):
            pid = int(entry.name)
            stop_machine(pid, _container_init(pid))
            removed.append(f"machine {names[0]} (nspawn pid {pid})")
    for mine in machine_cgroups(MACHINE_PREFIX):
        for stale in mine.parent.glob(f"{MACHINE_PREFIX}*"):
            owner = stale.name.removeprefix(MACHINE_PREFIX)
            if owner.isdigit() and not pid_alive(int(owner)):
                remove_cgroup_tree(stale)
                removed.append(str(stale))
    if NSPAWN_PROPAGATE_DIR.is_dir():
        for stale in NSPAWN_PROPAGATE_DIR.glob(f"{MACHINE_PREFIX}*"):
            owner = stale.name.removeprefix(MACHINE_PREFIX)
            if owner.isdigit() and not pid_alive(int(owner)):
                shutil.rmtree(stale, ignore_errors=True)
                removed.append(str(stale))
    return removed


class Machine:
    """A container booted with ``systemd-nspawn --boot`` on a read-only rootfs (overlay)."""

    def __init__(self, rootfs: Path, log_path: Path, binds: dict[Path, str]) -> None:
        self.rootfs = rootfs
        self.name = f"{MACHINE_PREFIX}{os.getpid()}"
        self.log_path = log_path
        self._binds = binds
        self._nspawn: subprocess.Popen[bytes] | None = None
        self.init_pid = 0
        self.cgroups = machine_cgroups(self.name)

    def boot(self, timeout: float = 60.0) -> float:
        """Start the container and wait until systemd reports running; returns seconds taken."""
        started = time.monotonic()
        argv = [
            "systemd-nspawn",
            "--quiet",
            "--register=no",
            "--keep-unit",
            "--boot",
            "--volatile=overlay",  # writes go to a tmpfs; the cached rootfs stays clean
            f"--directory={self.rootfs}",
            f"--machine={self.name}",
            *(f"--bind-ro={host}:{inside}" for host, inside in self._binds.items()),
        ]
        for cgroup in self.cgroups:
            cgroup.mkdir(exist_ok=True)
        enter = ["sh", "-c", _ENTER_CGROUPS, "sh", *map(str, self.cgroups), "--"]
        with self.log_path.open("wb") as log:
            self._nspawn = subprocess.Popen(
                [*enter, *dies_with_us(argv)], stdin=subprocess.DEVNULL, stdout=log, stderr=log
            )
        nspawn = self._nspawn

        def init_pid() -> int | None:
            if nspawn.poll() is not None:
                raise RuntimeError(f"systemd-nspawn exited {nspawn.returncode}:\n{self.log_tail()}")
            return _container_init(nspawn.pid)

        self.init_pid = wait_until(init_pid, 10.0, "the container's PID 1")
        remaining = max(1.0, timeout - (time.monotonic() - started))

        def booted() -> str | None:
            try:
                result = self.run(
                    "systemctl", "is-system-running", "--wait", check=False, timeout=remaining
                )
            except subprocess.TimeoutExpired:
                return None
            state = result.stdout.strip()
            return state if state in ("running", "degraded") else None

        state = wait_until(booted, remaining, "systemd in the container to finish booting", 0.3)
        if state == "degraded":
            failed = self.run("systemctl", "--failed", "--no-legend", check=False).stdout
            raise RuntimeError(f"the container booted degraded; failed units:\n{failed}")
        return time.monotonic() - started

    def shutdown(self, timeout: float = 15.0) -> None:
        """Power off (or, after ``timeout`` s, kill) the container; remove what nspawn left."""
        try:
            if self._nspawn is not None:
                stop_machine(self._nspawn.pid, self.init_pid or None, timeout)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    self._nspawn.wait(timeout=5)
        finally:
            self._nspawn = None
            shutil.rmtree(NSPAWN_PROPAGATE_DIR / self.name, ignore_errors=True)
            for cgroup in self.cgroups:
                remove_cgroup_tree(cgroup)

    def log_tail(self, lines: int = 30) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    # --- inside the container ----------------------------------------------------------

    def run(
        self,
        *argv: str,
        input_text: str | None = None,
        check: bool = True,
        timeout: float = 30.0,
    ) -> subprocess.CompletedProcess[str]:
        """Run ``argv`` in all of the container's namespaces, with a clean environment."""
        command = [
            "nsenter",
            f"--target={self.init_pid}",
            "--all",
            "env",
            "-i",
            f"PATH={CONTAINER_PATH}",
            "LANG=C.UTF-8",
            "SYSTEMD_COLORS=0",
            "SYSTEMD_PAGER=",
            *argv,
        ]
        result = subprocess.run(
            command,
            input=input_text,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if check and result.returncode != 0:
            raise AssertionError(
                f"in the container, {' '.join(argv)} exited {result.returncode}\n"
                f"stdout: {result.stdout[-3000:]}\nstderr: {result.stderr[-3000:]}"
            )
        return result

    def write_file(self, path: str, text: str, mode: str = "0644") -> None:
        """Create or replace ``path`` in the container (root-owned, ``mode``)."""
        self.run("install", "-D", "-m", mode, "/dev/stdin", path, input_text=text)

    def unit_properties(self, unit: str, *names: str) -> dict[str, str]:
        argv = ["systemctl", "show", unit, *(f"--property={name}" for name in names)]
        lines = self.run(*argv).stdout.splitlines()
        return dict(line.split("=", 1) for line in lines if "=" in line)

    def journal_cursor(self) -> str:
        out = self.run("journalctl", "--lines=0", "--show-cursor", "--quiet").stdout
        return out.strip().removeprefix("-- cursor: ")

    def journal(self, *matches: str, after_cursor: str | None = None) -> list[dict[str, Any]]:
        """Journal entries (as journalctl's JSON) matching ``FIELD=value`` terms."""
        argv = ["journalctl", "--output=json", "--no-pager", "--all"]
        if after_cursor:
            argv.append(f"--after-cursor={after_cursor}")
        lines = self.run(*argv, *matches).stdout.splitlines()
        return [json.loads(line) for line in lines if line.strip()]

    def unit_log(self, unit: str, after_cursor: str | None = None) -> str:
        """The unit's journal as plain messages (its own lines and systemd's about it)."""
        argv = ["journalctl", f"--unit={unit}", "--output=cat", "--no-pager", "--all"]
        if after_cursor:
            argv.append(f"--after-cursor={after_cursor}")
        return self.run(*argv).stdout


class LabServer:
    """``alo-edge lab`` on the host's loopback; the container shares the host's network."""

    def __init__(self, command: Sequence[str], state_dir: Path, log_path: Path) -> None:
        self._command = list(command)
        self.state_dir = state_dir
        self.log_path = log_path
        self.url = ""
        self._process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 20.0) -> None:
        argv = [
            *self._command,
            "lab",
            "--listen",
            "127.0.0.1:0",
            "--state-dir",
            str(self.state_dir),
        ]
        with self.log_path.open("wb") as log:
            self._process = subprocess.Popen(
                dies_with_us(argv), stdin=subprocess.DEVNULL, stdout=log, stderr=log
            )
        process = self._process

        def url() -> str | None:
            if process.poll() is not None:
                raise RuntimeError(f"the lab exited {process.returncode}:\n{self.log_tail()}")
            for line in self.log_path.read_text(errors="replace").splitlines():
                if line.startswith("lab: http://"):
                    return line.removeprefix("lab: ").strip()
            return None

        self.url = wait_until(url, timeout, "the lab to print its URL")

    def stop(self, timeout: float = 10.0) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        process.terminate()
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)

    def mint_token(self, user: str, out: Path) -> str:
        api_key = self.state_dir / "api_key"
        argv = [*self._command, "token", "--lab", self.url, "--api-key-file", str(api_key)]
        subprocess.run(
            [*argv, "--user", user, "--out", str(out)],
            check=True,
            capture_output=True,
            timeout=30,
        )
        return out.read_text().strip()

    def channel(self, name: str) -> dict[str, Any] | None:
        """The lab's report for channel ``name`` (``GET /api/channels``), None before any."""
        with urllib.request.urlopen(f"{self.url}/api/channels", timeout=5) as answer:
            report: dict[str, Any] = json.load(answer)
        channel: dict[str, Any] | None = report.get("channels", {}).get(name)
        return channel

    def log_tail(self, lines: int = 30) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""
        return "\n".join(text.splitlines()[-lines:])


class DeviceService:
    """alo-edge.service inside a :class:`Machine`, as systemctl and the lab see it."""

    UNIT = "alo-edge.service"
    PROPERTIES = (
        "ActiveState",
        "SubState",
        "StatusText",
        "MainPID",
        "NRestarts",
        "Result",
        "ExecMainStatus",
    )

    def __init__(self, machine: Machine, lab: LabServer, channel: str) -> None:
        self.machine = machine
        self.lab = lab
        self.channel = channel

    def properties(self) -> dict[str, str]:
        return self.machine.unit_properties(self.UNIT, *self.PROPERTIES)

    def systemctl(self, verb: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return self.machine.run("systemctl", verb, self.UNIT, check=check, timeout=60)

    def wait_connected(self, timeout: float = 30.0) -> dict[str, str]:
        """Wait for active (running) with STATUS showing CONNECTED; returns the properties."""
        seen: dict[str, str] = {}

        def connected() -> dict[str, str] | None:
            seen.update(self.properties())
            running = (seen["ActiveState"], seen["SubState"]) == ("active", "running")
            return dict(seen) if running and seen["StatusText"].startswith("CONNECTED") else None

        try:
            return wait_until(connected, timeout, f"{self.UNIT} to be running and CONNECTED")
        except WaitTimeout as exc:
            raise WaitTimeout(f"{exc}; last seen {seen}\n{self.recent_log()}") from None

    def wait_lab_receiving(self, timeout: float = 20.0) -> dict[str, Any]:
        """Wait until the lab has the channel connected and decoding frames."""

        def receiving() -> dict[str, Any] | None:
            report = self.lab.channel(self.channel)
            if report and report["connected"] and report["framesDecoded"] > 0:
                return report
            return None

        return wait_until(receiving, timeout, f"the lab to decode frames on {self.channel!r}")

    def recent_log(self, lines: int = 40) -> str:
        log = self.machine.unit_log(self.UNIT).splitlines()
        return "journal of the unit (last lines):\n" + "\n".join(log[-lines:])
