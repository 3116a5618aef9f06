"""Bundles for the nspawn tiers, built with ``alo_edge.tools.bundle`` (scripts/build-bundle).

The dependencies' files are downloaded once per architecture, extras and dependency list and
kept in the test cache (/var/cache/alo-edge-tests/bundle-deps), so a warm run only builds the
project's wheel; the project wheel is always built from the tree under test.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import tempfile
from pathlib import Path

from alo_edge.tools.bundle import build

REPO = Path(__file__).resolve().parents[2]
CACHE = Path(os.environ.get("ALO_EDGE_TEST_CACHE", "/var/cache/alo-edge-tests")) / "bundle-deps"


def bundle_for(arch: str, extras: tuple[str, ...], out: Path, source: Path = REPO) -> Path:
    """A bundle of ``source`` for ``arch`` in directory ``out``; returns its path."""
    key = hashlib.sha256((REPO / "pyproject.toml").read_bytes()).hexdigest()[:12]
    deps = CACHE / f"{arch}-{'-'.join(extras) or 'none'}-{key}"
    CACHE.mkdir(parents=True, exist_ok=True)
    with (CACHE / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one download at a time; the next finds it done
        if deps.is_dir():
            return build(arch, out, source, deps, extras)
        fresh = Path(tempfile.mkdtemp(prefix=".download-", dir=CACHE))
        try:
            bundle = build(arch, out, source, fresh, extras)
            fresh.rename(deps)
        finally:
            shutil.rmtree(fresh, ignore_errors=True)
        for stale in CACHE.glob(f"{arch}-{'-'.join(extras) or 'none'}-*"):
            if stale != deps:
                shutil.rmtree(stale, ignore_errors=True)
        return bundle
