"""The installer's helper for switching releases: ``python -m alo_edge.release COMMAND``.

``scripts/install-on-pi`` runs it with the *new* release's interpreter, so the new code
reads the config (a release that refuses it never gets switched to) and judges itself by
the rules of :mod:`alo_edge.release.gate`::

    wait-idle --config FILE [--timeout S]   exit 0 when nobody talks, 75 if still at timeout
    snapshot [--unit U]                     the unit's state as JSON on stdout
    gate --before FILE [--timeout S]        exit 0 when the restarted release is healthy, 1 if not

Every wait is bounded; all output is for a person (stderr) except ``snapshot``'s JSON.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from alo_edge.config import load_config
from alo_edge.errors import AloEdgeError, ExitCode
from alo_edge.release.gate import UNIT_PROPERTIES, UnitSnapshot, Verdict, idle_verdict, judge

UNIT = "alo-edge.service"
#: EX_TEMPFAIL: try again later.
EXIT_BUSY = 75


def unit_snapshot(unit: str) -> UnitSnapshot:
    """``systemctl show`` of ``unit``."""
    argv = ["systemctl", "show", unit, *(f"--property={name}" for name in UNIT_PROPERTIES)]
    result = subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)
    pairs = (line.split("=", 1) for line in result.stdout.splitlines() if "=" in line)
    return UnitSnapshot.from_properties(dict(pairs))


def fetch_status(url: str) -> dict[str, Any] | None:
    """``GET url`` as JSON; None when nothing answers (the service is down, status off)."""
    try:
        with urllib.request.urlopen(url, timeout=3) as answer:
            body = json.load(answer)
    except (OSError, urllib.error.URLError, ValueError):
        return None
    return body if isinstance(body, dict) else None


def wait_idle(
    status_url: str | None,
    timeout: float,
    poll: float = 1.0,
    fetch: Callable[[str], dict[str, Any] | None] = fetch_status,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> tuple[bool, str]:
    """Poll the running release's /status until nobody talks, at most ``timeout`` s."""
    if status_url is None:
        return True, "status.listen is off: cannot tell whether someone is talking"
    deadline = clock() + timeout
    told = False
    while True:
        idle, reason = idle_verdict(fetch(status_url))
        if idle or clock() >= deadline:
            return idle, reason
        if not told:
            print(f"release: waiting for the conversation to end: {reason}", file=sys.stderr)
            told = True
        sleep(poll)


def run_gate(
    unit: str,
    before: UnitSnapshot | None,
    timeout: float,
    poll: float = 0.5,
    snapshot: Callable[[str], UnitSnapshot] = unit_snapshot,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> tuple[Verdict, str]:
    """Watch ``unit`` until :func:`judge` is sure, at most ``timeout`` s (plus one look)."""
    began = clock()
    started = snapshot(unit)
    while True:
        elapsed = clock() - began
        verdict, reason = judge(before, started, snapshot(unit), elapsed, timeout)
        if verdict is not Verdict.WAIT:
            return verdict, reason
        sleep(poll)


def _status_url(config_path: Path) -> str | None:
    listen = load_config(config_path).status.listen
    if not listen.enabled:
        return None
    host = listen.host if listen.host not in ("", "0.0.0.0", "::") else "127.0.0.1"
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{listen.port}/status"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m alo_edge.release")
    commands = parser.add_subparsers(dest="command", required=True)
    idle = commands.add_parser("wait-idle", help="wait until nobody talks through the device")
    idle.add_argument("--config", type=Path, required=True)
    idle.add_argument("--timeout", type=float, default=600.0)
    snap = commands.add_parser("snapshot", help="the unit's state as JSON")
    snap.add_argument("--unit", default=UNIT)
    gate = commands.add_parser("gate", help="judge the restarted release")
    gate.add_argument("--unit", default=UNIT)
    gate.add_argument("--before", type=Path, help="snapshot of the old release (JSON)")
    gate.add_argument("--timeout", type=float, default=60.0)
    args = parser.parse_args(argv)
    try:
        if args.command == "wait-idle":
            idle_now, reason = wait_idle(_status_url(args.config), args.timeout)
            print(f"release: {reason}", file=sys.stderr)
            return ExitCode.OK if idle_now else EXIT_BUSY
        if args.command == "snapshot":
            print(json.dumps(unit_snapshot(args.unit).to_dict()))
            return ExitCode.OK
        before = None
        if args.before is not None and args.before.stat().st_size > 0:
            before = UnitSnapshot.from_properties(json.loads(args.before.read_text()))
        verdict, reason = run_gate(args.unit, before, args.timeout)
        print(f"release: {verdict.value}: {reason}", file=sys.stderr)
        return ExitCode.OK if verdict is Verdict.HEALTHY else 1
    except AloEdgeError as exc:
        print(f"release: {exc}", file=sys.stderr)
        return int(exc.exit_code)


if __name__ == "__main__":
    sys.exit(main())
