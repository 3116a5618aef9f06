"""``scripts/build-bundle``: one file that installs a release on a Pi with no index at all.

A bundle is an uncompressed tar (wheels are compressed already) holding one directory::

    alo-edge-bundle/
      manifest.json       release id, version, architecture, Python, every file's sha256
      requirements.txt    every runtime package, pinned, with --hash (pip's hash-checking mode)
      SHA256SUMS          every file of the bundle (sha256sum -c)
      wheels/             the project's wheel, every dependency's wheel for the target
                          (aarch64 / x86_64, CPython 3.11, glibc 2.36: bookworm), the sdists
                          that have no wheel (pyalsaaudio: built on the Pi with gcc) and the
                          build tools those need (setuptools, wheel)
      alo-edge.service    the release's unit file
      example.toml        the release's example config
      install-on-pi       the installer that goes with it

Dependencies a Pi takes from apt instead (systemd-python: ``python3-systemd``; picamera2 and
libcamera from Raspberry Pi OS) are left out: the release's venv sees them through
``--system-site-packages``. ``pip download`` picks the wheels; pip's own ``--platform``
filters need every ``manylinux_2_X`` tag up to the target's glibc listed, or older pip
releases settle for old versions.

The release id is ``<version>-<8 hex digits of the requirements' hash>``: the same inputs
make the same id, so installing a bundle twice is a no-op.
"""

from __future__ import annotations

import argparse
import email.parser
import hashlib
import json
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import zipfile
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name, parse_sdist_filename, parse_wheel_filename

REPO = Path(__file__).resolve().parents[2]
TOP = "alo-edge-bundle"
PYTHON = "3.11"
ABI = "cp311"
#: bookworm's glibc.
GLIBC_MINOR = 36
#: Debian architecture -> (wheel platform machine, oldest manylinux_2_X minor on PyPI).
ARCHES = {"arm64": ("aarch64", 17), "amd64": ("x86_64", 5)}
#: Legacy manylinux aliases (PEP 599) per machine.
LEGACY = {"aarch64": ["manylinux2014"], "x86_64": ["manylinux1", "manylinux2010", "manylinux2014"]}
#: Built on the target from source (no wheel for it), with these build tools in the bundle.
FROM_SOURCE = {"pyalsaaudio"}
BUILD_TOOLS = ["setuptools", "wheel"]
#: Installed from apt on a Pi (``python3-systemd``); never in the bundle.
FROM_APT = {"systemd-python"}
EXTRAS = ("pi",)


def platforms(arch: str) -> list[str]:
    """pip ``--platform`` tags for ``arch``: every manylinux_2_X up to bookworm's glibc."""
    machine, oldest = ARCHES[arch]
    tags = [f"{legacy}_{machine}" for legacy in LEGACY[machine]]
    tags += [f"manylinux_2_{minor}_{machine}" for minor in range(oldest, GLIBC_MINOR + 1)]
    return tags


def build_project_wheel(source: Path, out: Path) -> Path:
    """``pip wheel --no-deps`` of a copy of ``source`` (pip builds in-tree)."""
    with tempfile.TemporaryDirectory(prefix="alo-edge-src-") as tmp:
        copy = Path(tmp) / "src"
        copy.mkdir()
        for name in ("pyproject.toml", "README.md"):
            shutil.copy2(source / name, copy / name)
        shutil.copytree(
            source / "alo_edge", copy / "alo_edge", ignore=shutil.ignore_patterns("__pycache__")
        )
        _pip("wheel", "--no-deps", "--wheel-dir", str(out), str(copy))
    (wheel,) = out.glob("alo_edge-*.whl")
    return wheel


def runtime_requirements(wheel: Path, extras: tuple[str, ...]) -> list[Requirement]:
    """The wheel's Requires-Dist for a Linux target with ``extras``, minus apt's packages."""
    with zipfile.ZipFile(wheel) as archive:
        (metadata,) = [n for n in archive.namelist() if n.endswith(".dist-info/METADATA")]
        headers = email.parser.Parser().parsestr(archive.read(metadata).decode())
    wanted = []
    for line in headers.get_all("Requires-Dist") or []:
        requirement = Requirement(line)
        environment = {"sys_platform": "linux", "platform_system": "Linux"}
        marker = requirement.marker
        if marker is not None and not any(
            marker.evaluate({**environment, "extra": extra}) for extra in ("", *extras)
        ):
            continue
        if canonicalize_name(requirement.name) in FROM_APT:
            continue
        requirement.marker = None
        wanted.append(requirement)
    return wanted


def download(wheel: Path, requirements: list[Requirement], arch: str, dest: Path) -> None:
    """Every wheel for the target, then the sdists of :data:`FROM_SOURCE`."""
    binary = [str(r) for r in requirements if canonicalize_name(r.name) not in FROM_SOURCE]
    source = [str(r) for r in requirements if canonicalize_name(r.name) in FROM_SOURCE]
    target = ["--python-version", PYTHON, "--implementation", "cp", "--abi", ABI]
    for tag in platforms(arch):
        target += ["--platform", tag]
    _pip(
        "download", "--only-binary=:all:", *target, "--dest", str(dest), str(wheel), *binary,
        *BUILD_TOOLS,
    )  # fmt: skip
    if source:
        _pip("download", "--no-deps", "--no-binary=:all:", "--dest", str(dest), *source)


def _pip(*args: str) -> None:
    argv = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q", *args]
    result = subprocess.run(argv, capture_output=True, text=True, timeout=900, check=False)
    if result.returncode != 0:
        raise SystemExit(f"build-bundle: pip {args[0]} failed:\n{result.stderr[-3000:]}")


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def name_and_version(filename: str) -> tuple[str, str]:
    if filename.endswith(".whl"):
        name, version, _, _ = parse_wheel_filename(filename)
    else:
        name, version = parse_sdist_filename(filename)
    return str(name), str(version)


def requirements_text(wheels: Path) -> str:
    """``name==version --hash=sha256:...`` for every runtime file (not the build tools)."""
    lines = []
    for path in sorted(wheels.iterdir()):
        name, version = name_and_version(path.name)
        if name in BUILD_TOOLS:
            continue
        lines.append(f"{name}=={version} --hash=sha256:{sha256(path)}")
    return "\n".join(lines) + "\n"


def build(
    arch: str,
    out: Path,
    source: Path = REPO,
    deps: Path | None = None,
    extras: tuple[str, ...] = EXTRAS,
) -> Path:
    """Make the bundle; returns its path (``out`` itself, or a file named in directory ``out``).

    ``deps``: a directory of already downloaded dependency files for this arch and these
    extras to reuse (the tests keep one); they are downloaded into it when it is empty.
    ``extras``: the project's extras to include (``pi`` by default; none for a bundle that
    installs where no compiler is, as the amd64 system tier's rootfs).
    """
    if arch not in ARCHES:
        raise SystemExit(f"build-bundle: --arch {arch}: one of {', '.join(ARCHES)}")
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="alo-edge-bundle-") as tmp:
        top = Path(tmp) / TOP
        wheels = top / "wheels"
        wheels.mkdir(parents=True)
        wheel = build_project_wheel(source, Path(tmp) / "project")
        requirements = runtime_requirements(wheel, extras)
        fetched = deps if deps is not None else Path(tmp) / "deps"
        fetched.mkdir(parents=True, exist_ok=True)
        if not any(fetched.iterdir()):
            download(wheel, requirements, arch, fetched)
        for path in fetched.iterdir():
            if not path.name.startswith("alo_edge-"):
                shutil.copy2(path, wheels / path.name)
        shutil.copy2(wheel, wheels / wheel.name)
        requirements_txt = requirements_text(wheels)
        (top / "requirements.txt").write_text(requirements_txt)
        shutil.copy2(source / "systemd" / "alo-edge.service", top / "alo-edge.service")
        shutil.copy2(source / "config" / "example.toml", top / "example.toml")
        shutil.copy2(source / "scripts" / "install-on-pi", top / "install-on-pi")
        _, version = name_and_version(wheel.name)
        release = f"{version}-{hashlib.sha256(requirements_txt.encode()).hexdigest()[:8]}"
        files = sorted(p for p in top.rglob("*") if p.is_file())
        checksums = {str(p.relative_to(top)): sha256(p) for p in files}
        manifest = {
            "release": release,
            "version": version,
            "arch": arch,
            "python": PYTHON,
            "glibc": f"2.{GLIBC_MINOR}",
            "built": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "files": checksums,
        }
        (top / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
        checksums["manifest.json"] = sha256(top / "manifest.json")
        sums = "".join(f"{digest}  {name}\n" for name, digest in sorted(checksums.items()))
        (top / "SHA256SUMS").write_text(sums)
        target = out / f"alo-edge-{release}-{arch}.tar" if out.is_dir() else out
        partial = target.with_name(target.name + ".partial")
        with tarfile.open(partial, "w") as archive:
            archive.add(top, arcname=TOP)
        partial.replace(target)
    size = target.stat().st_size / 1e6
    print(
        f"build-bundle: {target} (release {release}, {arch}, {len(files)} files, {size:.0f} MB, "
        f"{time.monotonic() - started:.0f} s)",
        file=sys.stderr,
    )
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="scripts/build-bundle", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--arch", default="arm64", choices=sorted(ARCHES))
    parser.add_argument("--out", type=Path, default=Path("."), help="a directory or a file name")
    parser.add_argument("--source", type=Path, default=REPO, help="the checkout to bundle")
    parser.add_argument("--deps", type=Path, help="reuse (or fill) this folder of dependencies")
    parser.add_argument("--extras", default=",".join(EXTRAS), help='project extras ("" for none)')
    args = parser.parse_args(argv)
    extras = tuple(e for e in args.extras.split(",") if e)
    print(build(args.arch, args.out, args.source.resolve(), args.deps, extras))
    return 0


if __name__ == "__main__":
    sys.exit(main())
