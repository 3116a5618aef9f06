"""scripts/build-bundle's pure parts: target platforms, which requirements go in, the pins."""

from __future__ import annotations

import hashlib
import zipfile
from pathlib import Path

from alo_edge.tools.bundle import (
    name_and_version,
    platforms,
    requirements_text,
    runtime_requirements,
)


def test_arm64_platforms_list_every_manylinux_up_to_bookworms_glibc() -> None:
    tags = platforms("arm64")

    assert tags[0] == "manylinux2014_aarch64"
    assert tags[1:] == [f"manylinux_2_{minor}_aarch64" for minor in range(17, 37)]
    assert "manylinux_2_38_aarch64" not in tags  # bookworm's glibc is 2.36


def fake_wheel(path: Path, requires: list[str]) -> Path:
    metadata = "Metadata-Version: 2.1\nName: alo-edge\nVersion: 0.1.0\n"
    metadata += "".join(f"Requires-Dist: {line}\n" for line in requires)
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("alo_edge-0.1.0.dist-info/METADATA", metadata)
    return path


def test_runtime_requirements_take_the_pi_extra_and_leave_apt_packages_out(tmp_path: Path) -> None:
    wheel = fake_wheel(
        tmp_path / "alo_edge-0.1.0-py3-none-any.whl",
        [
            "aiortc<2,>=1.16",
            'pyalsaaudio>=0.10; extra == "pi"',
            'systemd-python>=235; extra == "pi"',
            'lgpio>=0.2; extra == "pi"',
            'pytest>=8; extra == "dev"',
        ],
    )

    with_pi = [str(r) for r in runtime_requirements(wheel, ("pi",))]
    without = [str(r) for r in runtime_requirements(wheel, ())]

    assert with_pi == ["aiortc<2,>=1.16", "pyalsaaudio>=0.10", "lgpio>=0.2"]
    assert without == ["aiortc<2,>=1.16"]


def test_every_runtime_file_is_pinned_with_its_hash_and_build_tools_are_not(
    tmp_path: Path,
) -> None:
    files = {
        "av-18.1.0-cp311-abi3-manylinux_2_28_aarch64.whl": b"av",
        "pyalsaaudio-0.11.0.tar.gz": b"sdist",
        "setuptools-80.0.0-py3-none-any.whl": b"build tool",
        "wheel-0.45.0-py3-none-any.whl": b"build tool",
    }
    for name, content in files.items():
        (tmp_path / name).write_bytes(content)

    text = requirements_text(tmp_path)

    assert text.splitlines() == [
        f"av==18.1.0 --hash=sha256:{hashlib.sha256(b'av').hexdigest()}",
        f"pyalsaaudio==0.11.0 --hash=sha256:{hashlib.sha256(b'sdist').hexdigest()}",
    ]


def test_names_and_versions_come_from_the_file_names() -> None:
    assert name_and_version("google_crc32c-1.9.0-cp311-cp311-manylinux2014_aarch64.whl") == (
        "google-crc32c",
        "1.9.0",
    )
    assert name_and_version("gpiozero-2.0.1.post3-py3-none-any.whl") == ("gpiozero", "2.0.1.post3")
