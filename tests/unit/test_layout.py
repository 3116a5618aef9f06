"""The architecture's rules, read off every module's imports and size (DESIGN.md section 2).

A wrong arrow (a session part importing the SDK face, a transport importing the
session, the lab reaching into device internals) fails here, in CI, not in review.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "alo_edge"
#: The device's parts: none of them may know who composes them, nor the tools.
PARTS = ("session", "transport", "media", "system", "panel")
#: Modules that only the composition root (and the CLI and tools) may pick.
IMPLEMENTATIONS = (
    "alo_edge.transport.whip",
    "alo_edge.transport.janus",
    "alo_edge.media.picamera",
    "alo_edge.media.alsa",
    "alo_edge.media.v4l2",
    "alo_edge.media.filesource",
    "alo_edge.media.synthetic",
    "alo_edge.media.virtual_speaker",
)
CHOOSERS = ("alo_edge.app", "alo_edge.cli", "alo_edge.tools")
#: What the lab may use of the device: the public API and the wire contracts it shares.
LAB_MAY_IMPORT = (
    "alo_edge",  # the package root: the public API (lazily exported)
    "alo_edge.errors",
    "alo_edge.events",
    "alo_edge.secret_files",
    "alo_edge.lab",
    "alo_edge.session.states",  # ALO's state names, which the lab's timeline shows
    "alo_edge.transport.ice",  # the one ICE policy every peer connection in alo-edge uses
    "alo_edge.transport.http",  # bounded reads, for the lab's own HTTP client
    "alo_edge.media.stamp",  # the picture stamp: device draws it, lab reads it
    "alo_edge.media.base",  # RTP's video clock, one definition for device and lab
)
#: Vendor libraries of hardware adapters: imported inside functions, never at module level.
HARDWARE_LIBRARIES = ("picamera2", "alsaaudio", "gpiozero", "lgpio", "systemd")
MAX_LINES = 500


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def imports(path: Path, *, top_level_only: bool = False) -> set[str]:
    """Every module ``path`` imports (absolute names), anywhere in the file or at the top."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    nodes = tree.body if top_level_only else list(ast.walk(tree))
    found: set[str] = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def within(name: str, *prefixes: str) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def part_of(name: str) -> str | None:
    parts = name.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in PARTS else None


def violations(rule: str) -> list[str]:
    found = []
    for name, path in MODULES.items():
        for imported in imports(path):
            if not within(imported, "alo_edge") or imported not in MODULES:
                continue
            if rule == "parts" and part_of(name) and within(imported, *CHOOSERS, "alo_edge.api"):
                found.append(f"{name} imports {imported}")
            if rule == "parts" and part_of(name) and within(imported, "alo_edge.lab"):
                found.append(f"{name} imports {imported}")
            if (
                rule == "transport"
                and within(name, "alo_edge.transport")
                and within(imported, "alo_edge.session")
            ):
                found.append(f"{name} imports {imported}")
            if (
                rule == "choosers"
                and within(imported, *IMPLEMENTATIONS)
                and not within(name, *CHOOSERS)
                and not within(name, *(i for i in IMPLEMENTATIONS if within(imported, i)))
            ):
                found.append(f"{name} picks {imported}")
            if (
                rule == "lab"
                and within(name, "alo_edge.lab")
                and not any(imported == p or within(imported, p) for p in LAB_MAY_IMPORT[1:])
                and imported != "alo_edge"
            ):
                found.append(f"{name} imports {imported}")
    return found


@pytest.mark.parametrize(
    ("rule", "meaning"),
    [
        (
            "parts",
            "session/, transport/, media/, system/, panel/ never import api, app, cli, tools, lab",
        ),
        ("transport", "transport/ imports nothing from session/"),
        ("choosers", "only app.py, cli and tools/ pick transports and capture devices"),
        ("lab", "the lab imports only the public API and the shared wire contracts"),
    ],
)
def test_import_rule(rule: str, meaning: str) -> None:
    assert violations(rule) == [], meaning


def test_the_rules_see_a_wrong_arrow(tmp_path: Path) -> None:
    # The checker itself must be able to fail: a session module importing the SDK face.
    bad = tmp_path / "bad.py"
    bad.write_text("from alo_edge.api import AloVideo\nimport alo_edge.app\n", encoding="utf-8")
    assert imports(bad) >= {"alo_edge.api", "alo_edge.api.AloVideo", "alo_edge.app"}
    assert part_of("alo_edge.session.bad") == "session"


@pytest.mark.parametrize("name", sorted(MODULES))
def test_no_module_is_over_500_lines(name: str) -> None:
    lines = len(MODULES[name].read_text(encoding="utf-8").splitlines())
    assert lines <= MAX_LINES, f"{name} has {lines} lines: split it by job"


@pytest.mark.parametrize("name", sorted(MODULES))
def test_hardware_libraries_are_imported_inside_their_adapters(name: str) -> None:
    top = imports(MODULES[name], top_level_only=True)
    assert not [i for i in top if within(i, *HARDWARE_LIBRARIES)], (
        f"{name} imports a hardware library at module level: every module must import on a laptop"
    )


@pytest.mark.parametrize("name", sorted(MODULES))
def test_no_attribute_probing(name: str) -> None:
    # getattr(x, "name", ...) and hasattr(x, "name") guess at what an object can do;
    # a protocol declares it instead. getattr with a computed name (walking dataclass
    # fields) is not a probe.
    tree = ast.parse(MODULES[name].read_text(encoding="utf-8"))
    probes = [
        f"line {node.lineno}: {ast.unparse(node)}"
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and (
            node.func.id == "hasattr"
            or (
                node.func.id == "getattr"
                and len(node.args) >= 2
                and isinstance(node.args[1], ast.Constant)
            )
        )
    ]
    assert probes == [], f"{name} probes attributes instead of declaring a protocol"


def test_light_commands_do_not_import_the_media_stack() -> None:
    # `alo-edge --help` (and config, status) must start fast on a Pi Zero: no aiortc, av, numpy.
    code = (
        "import sys\n"
        "from alo_edge.cli import main\n"
        "try:\n"
        "    main(['--help'])\n"
        "except SystemExit:\n"
        "    pass\n"
        "heavy = [m for m in ('aiortc', 'av', 'numpy', 'aioice') if m in sys.modules]\n"
        "print(','.join(heavy), file=sys.stderr)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert result.stderr.strip() == "", f"--help imported {result.stderr.strip()}"
