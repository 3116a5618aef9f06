"""Network namespaces for the root tiers (``tests/faults``, ``tests/janus``).

Each tier names its namespaces ``<its prefix><owner pid>-<tag>...``: the prefix keeps
the tiers from ever removing each other's namespaces, the owner PID lets a run
remove what a killed run left behind without touching a run still in progress.
Processes inside a namespace are killed by PID, one at a time, never by name.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import shutil
import signal
import subprocess
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest

NETNS_RUN = Path("/run/netns")
NETNS_ETC = Path("/etc/netns")
COMMAND_TIMEOUT = 10.0
_CLONE_NEWNET = 0x40000000

T = TypeVar("T")


def sh(*args: str, stdin: str | None = None) -> str:
    """Run one command to completion; a failure raises with its stderr."""
    result = subprocess.run(
        list(args),
        input=stdin,
        capture_output=True,
        text=True,
        timeout=COMMAND_TIMEOUT,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed ({result.returncode}): {result.stderr}")
    return result.stdout


def namespace_name(prefix: str, tag: str) -> str:
    """``<prefix><this process's pid>-<tag>``: owned by this run, unique per test."""
    return f"{prefix}{os.getpid()}-{tag}"


def node_tag(request: pytest.FixtureRequest) -> str:
    """A short tag for the requesting test, for its namespace names."""
    return f"{abs(hash(request.node.nodeid)) % 10**6:06d}"


def mark_tier(items: list[pytest.Item], folder: str, marker: str, unavailable: str | None) -> None:
    """Mark the tests under ``folder`` with ``marker``; skip them when ``unavailable``."""
    for item in items:
        if folder in str(item.path).replace("\\", "/"):
            item.add_marker(getattr(pytest.mark, marker))
            if unavailable:
                item.add_marker(pytest.mark.skip(reason=unavailable))


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _kill_namespace_processes(namespace: str) -> None:
    # By PID, one at a time: only processes living inside a namespace of ours.
    with contextlib.suppress(RuntimeError, subprocess.TimeoutExpired):
        for raw in sh("ip", "netns", "pids", namespace).split():
            with contextlib.suppress(ProcessLookupError, ValueError):
                os.kill(int(raw), signal.SIGKILL)


def delete_namespace(namespace: str) -> None:
    """SIGKILL, by PID, what still runs inside ``namespace``; delete it and its /etc/netns."""
    _kill_namespace_processes(namespace)
    with contextlib.suppress(RuntimeError, subprocess.TimeoutExpired):
        sh("ip", "netns", "delete", namespace)
    shutil.rmtree(NETNS_ETC / namespace, ignore_errors=True)


def remove_leftovers(prefix: str) -> list[str]:
    """Delete ``prefix`` namespaces of earlier runs whose owning process is gone.

    Returns their names. Namespaces of live runs and of other prefixes are left alone.
    """
    removed = []
    names = [p.name for p in NETNS_RUN.iterdir()] if NETNS_RUN.is_dir() else []
    names += [p.name for p in NETNS_ETC.iterdir()] if NETNS_ETC.is_dir() else []
    for name in sorted(set(names)):
        if not name.startswith(prefix):
            continue
        owner = name[len(prefix) :].split("-", 1)[0]
        if owner.isdigit() and _pid_alive(int(owner)):
            continue
        delete_namespace(name)
        removed.append(name)
    return removed


def call_in_namespace(namespace: str, function: Callable[[], T], timeout: float) -> T:
    """Call ``function`` on a thread that joined ``namespace``'s network stack.

    A socket belongs to the namespace of the thread that creates it, so HTTP from
    that thread reaches addresses that exist only inside the namespace.
    """
    outcome: dict[str, Any] = {}

    def target() -> None:
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            fd = os.open(NETNS_RUN / namespace, os.O_RDONLY)
            try:
                if libc.setns(fd, _CLONE_NEWNET) != 0:
                    errno = ctypes.get_errno()
                    raise OSError(errno, f"setns({namespace}): {os.strerror(errno)}")
            finally:
                os.close(fd)
            outcome["value"] = function()
        except BaseException as error:  # handed to the caller's thread
            outcome["error"] = error

    thread = threading.Thread(target=target, name=f"netns-{namespace}", daemon=True)
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        raise TimeoutError(f"call inside {namespace} took longer than {timeout:g} s")
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]  # type: ignore[no-any-return]


class DeviceAndLab:
    """What every namespace rig shares: a device namespace, a lab namespace (and any more a
    rig adds with :meth:`add_namespace`), commands and calls inside them, nftables, and a
    :meth:`destroy` that removes every namespace it created, in reverse order."""

    def __init__(
        self, prefix: str, tag: str, lab_port: int, device_address: str, lab_address: str
    ) -> None:
        self.base_name = namespace_name(prefix, tag)
        self.device_ns = f"{self.base_name}-dev"
        self.lab_ns = f"{self.base_name}-lab"
        self.lab_port = lab_port
        self.device_address = device_address
        self.lab_address = lab_address
        self._created: list[str] = []

    def add_namespace(self, namespace: str) -> None:
        """Create ``namespace`` (removed by :meth:`destroy`) with its loopback up."""
        sh("ip", "netns", "add", namespace)
        self._created.append(namespace)
        sh("ip", "-n", namespace, "link", "set", "lo", "up")

    def no_dns_in_device(self) -> None:
        """The device's resolv.conf names 127.0.0.1: a lookup there fails at once."""
        resolv = NETNS_ETC / self.device_ns / "resolv.conf"
        resolv.parent.mkdir(parents=True, exist_ok=True)
        resolv.write_text("nameserver 127.0.0.1\noptions timeout:1 attempts:1\n", encoding="utf-8")

    def destroy(self) -> None:
        """Delete every namespace created (killing anything still inside, by PID)."""
        for namespace in reversed(self._created):
            delete_namespace(namespace)
        self._created.clear()

    def in_device(self, *command: str) -> list[str]:
        """``command`` prefixed to run inside the device namespace."""
        return ["ip", "netns", "exec", self.device_ns, *command]

    def in_lab(self, *command: str) -> list[str]:
        """``command`` prefixed to run inside the lab namespace."""
        return ["ip", "netns", "exec", self.lab_ns, *command]

    def call_in_lab(self, function: Callable[[], T], timeout: float = COMMAND_TIMEOUT) -> T:
        """Run ``function`` with the lab namespace's network (HTTP to the lab's address)."""
        return call_in_namespace(self.lab_ns, function, timeout)

    def call_in_device(self, function: Callable[[], T], timeout: float = COMMAND_TIMEOUT) -> T:
        """Run ``function`` with the device namespace's network (its status endpoint)."""
        return call_in_namespace(self.device_ns, function, timeout)

    @staticmethod
    def nft(namespace: str, *args: str, stdin: str | None = None) -> str:
        """``nft ARGS`` in ``namespace``, or ``nft -f -`` reading ``stdin``."""
        if stdin is not None:
            return sh("ip", "netns", "exec", namespace, "nft", "-f", "-", stdin=stdin)
        return sh("ip", "netns", "exec", namespace, "nft", *args)

    def counter(self, namespace: str, family: str, name: str, field: str) -> int:
        """``field`` (packets, bytes) of the named nftables counter in table ``aloedge``."""
        listing = json.loads(self.nft(namespace, "-j", "list", "counter", family, "aloedge", name))
        for item in listing["nftables"]:
            if "counter" in item:
                value: int = item["counter"][field]
                return value
        raise RuntimeError(f"no counter {name} in {listing}")
