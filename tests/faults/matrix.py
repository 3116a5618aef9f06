"""``scripts/faults``: run the whole fault matrix and print what the device did, as a table.

Each row is one scenario of :mod:`tests.faults.scenarios` on a fresh rig (its own
namespaces, lab and device, all removed afterwards): the time from the fault to
ERROR, from the fault clearing to CONNECTED and to video decoded at the lab again,
the TCP connection attempts (SYNs) that reached the server meanwhile, HTTP requests
where a gate counts them, the lab's fps during the fault (lowest; and once the rate
controller had 10 s to adapt, median and lowest), capture-to-decode latency (p95,
once adapted), the lowest target bitrate the device set and how long after the fault
its target was back at ``video.bitrate``, and whether the device process stayed
alive with a sane RSS. The video is 720p30 passthrough from the picamera2 stand-in
(tests/sensors). ``--json`` prints the rows as JSON.
Root only (network namespaces, nftables, tc).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from alo_edge.lab import mint_token
from tests.faults import scenarios, tokens, turn
from tests.faults.netlab import available
from tests.faults.rig import USER, FaultRig
from tests.faults.scenarios import FaultResult

FORGED_SECRET = "a-secret-the-lab-never-had-0123456789abcdef"


def _service_unavailable(rig: FaultRig) -> FaultResult:
    return scenarios.service_unavailable(rig, retry_after=7, failures=2)[0]


def _rotated_token(rig: FaultRig) -> FaultResult:
    forged = mint_token(FORGED_SECRET, USER, 60, time.time())
    return scenarios.rotated_token(rig, forged, attempts=2)[0]


#: name -> scenario; every one uses the device's default reconnect settings unless named.
MATRIX: dict[str, Callable[[FaultRig], FaultResult]] = {
    "link-down-3": lambda rig: scenarios.link_down(rig, 3),
    "link-down-5": lambda rig: scenarios.link_down(rig, 5),
    "link-down-60": lambda rig: scenarios.link_down(rig, 60),
    "blackhole-30": lambda rig: scenarios.blackhole(rig, 30),
    "loss-10": lambda rig: scenarios.loss(rig, 10, 30),
    "uplink-500k": lambda rig: scenarios.bandwidth(rig, 500, 30),
    "uplink-500k-fixed": lambda rig: scenarios.bandwidth(rig, 500, 30, fixed=True),
    "uplink-300k": lambda rig: scenarios.bandwidth(rig, 300, 30),
    "uplink-1m-loss-5": lambda rig: scenarios.lossy_uplink(rig, 1000, 5, 30),
    "delay-200": lambda rig: scenarios.delay(rig, 200, 50, 30),
    "kill-9": lambda rig: scenarios.server_killed(rig, 5),
    "sigstop-20": lambda rig: scenarios.server_frozen(rig, 20),
    "http-503": _service_unavailable,
    "http-401-rotate": _rotated_token,
    "token-expiry": lambda rig: tokens.token_expiry(rig, 10)[0],
    "unresolvable": lambda rig: scenarios.unresolvable_host(rig, 10),
    "tls-untrusted": lambda rig: scenarios.untrusted_tls(rig, 10),
    "turn-udp-dropped": lambda rig: turn.fallback_list(rig, udp_blocked=True),
    "turn-udp-allowed": lambda rig: turn.fallback_list(rig, udp_blocked=False),
    "turn-tls-only": turn.turn_over_tls,
}
#: Rows whose device sits behind a NAT with a TURN server beside the lab; CONNECTED is
#: timed from the device's start.
NAT_ROWS = ("turn-udp-dropped", "turn-udp-allowed", "turn-tls-only")

COLUMNS = (
    ("fault", "fault"),
    ("ERROR after", "detect_s"),
    ("CONNECTED after clear", "recover_s"),
    ("video after clear", "media_back_s"),
    ("SYNs to server", "syns_during"),
    ("HTTP requests", "requests_during"),
    ("min fps", "min_fps"),
    ("median fps during", "median_fps"),
    ("min fps after 10 s", "adapted_min_fps"),
    ("p95 latency during", "p95_latency_ms"),
    ("lowest target kbit/s", "min_target_kbit"),
    ("bitrate restored after clear", "restored_s"),
    ("media path", "media_path"),
    ("alive", "alive"),
    ("RSS MiB start/end", "rss"),
)


def _cell(row: dict[str, Any], key: str) -> str:
    if key == "rss":
        return f"{row['rss_start_kib'] / 1024:.0f}/{row['rss_end_kib'] / 1024:.0f}"
    value = row.get(key)
    if value is None:
        return "-"
    if key == "alive":
        return "yes" if value and row.get("rss_sane") else "NO"
    if key.endswith("_s"):
        return f"{value:.1f} s"
    if key.endswith("_ms"):
        return f"{value:.0f} ms"
    return str(value)


def table(rows: Sequence[dict[str, Any]]) -> str:
    """The rows as a Markdown table (it reads the same in a terminal and in README)."""
    lines = ["| " + " | ".join(title for title, _ in COLUMNS) + " |"]
    lines.append("|" + "|".join("---" for _ in COLUMNS) + "|")
    for row in rows:
        if "error" in row:
            lines.append(f"| {row['fault']} | FAILED: {row['error']} |")
            continue
        lines.append("| " + " | ".join(_cell(row, key) for _, key in COLUMNS) + " |")
    return "\n".join(lines)


def run(names: Sequence[str], log: Callable[[str], None]) -> list[dict[str, Any]]:
    """Run the named scenarios one after another, each on a fresh rig."""
    rows: list[dict[str, Any]] = []
    for index, name in enumerate(names):
        log(f"faults: {name} ...")
        with tempfile.TemporaryDirectory(prefix="alo-edge-faults-") as tmp:
            tag = f"m{index}"
            rig = turn.nat_rig(Path(tmp), tag) if name in NAT_ROWS else FaultRig(Path(tmp), tag)
            try:
                row = MATRIX[name](rig).as_dict()
            except Exception as error:  # one broken scenario must not hide the others
                traceback.print_exc(file=sys.stderr)
                row = {"fault": name, "error": f"{type(error).__name__}: {error}"[:300]}
            finally:
                rig.close()
        log(f"faults: {name}: {json.dumps(row)}")
        rows.append(row)
    return rows


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="scripts/faults", description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print the rows as JSON")
    parser.add_argument(
        "--only", action="append", choices=sorted(MATRIX), help="run only this scenario (repeat)"
    )
    args = parser.parse_args(argv)
    reason = available()
    if reason:
        print(f"scripts/faults: {reason}", file=sys.stderr)
        return 2
    started = time.monotonic()
    rows = run(args.only or list(MATRIX), lambda line: print(line, file=sys.stderr, flush=True))
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        print(table(rows))
        print(f"\n{len(rows)} scenarios in {time.monotonic() - started:.0f} s", file=sys.stderr)
    return 1 if any("error" in row or not row.get("alive") for row in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
