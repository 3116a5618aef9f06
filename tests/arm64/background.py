"""The arm64 rootfs builds in the background while the other tiers run.

A cold ``scripts/build-test-rootfs --arch arm64`` takes about five minutes of one core under
qemu-user. The root conftest starts it (niced, idle I/O class, so the timing-sensitive tiers
keep the CPU) as soon as collection has found arm64 tests, and moves those tests to the end of
the run; the tier's ``rootfs`` fixture then waits for it instead of starting it.
"""

from __future__ import annotations

import os
import re
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
ARCH = "arm64"


@dataclass
class Build:
    process: subprocess.Popen[bytes]
    log: Path
    started: float


_build: Build | None = None


def start(log_dir: Path) -> None:
    """Start the build once (root only; a cached rootfs makes it return in well under 1 s)."""
    global _build
    if _build is not None or os.geteuid() != 0:
        return
    log_dir.mkdir(parents=True, exist_ok=True)
    log = log_dir / "build-test-rootfs-arm64.log"
    argv = ["nice", "-n", "19", "ionice", "-c", "3"]
    argv += [str(REPO / "scripts" / "build-test-rootfs"), "--arch", ARCH]
    with log.open("wb") as out:
        process = subprocess.Popen(
            ["setpriv", "--pdeathsig", "TERM", "--", *argv],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=out,
        )
    _build = Build(process, log, time.monotonic())


def wait(timeout: float = 900.0) -> tuple[Path, str]:
    """The rootfs's path and a note on how it came (waits for the background build)."""
    if _build is None:
        start(Path("/tmp") / f"alo-edge-arm64-{os.getpid()}")
    assert _build is not None
    waited = time.monotonic()
    try:
        code = _build.process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        _build.process.kill()
        raise AssertionError(f"the arm64 rootfs build took over {timeout:.0f} s") from None
    text = _build.log.read_text(errors="replace")
    if code != 0:
        raise AssertionError(f"scripts/build-test-rootfs --arch arm64 failed:\n{text[-4000:]}")
    took = re.search(r"built \S+ in (\d+) s", text)
    how = f"built in {took.group(1)} s in the background" if took else "cached"
    note = f"{how}, waited {time.monotonic() - waited:.0f} s for it"
    return Path(text.strip().splitlines()[-1]), note
