"""The light commands start without the media stack, aiohttp or even the event loop (a Pi
Zero pays ~1 s for the first three, asyncio alone costs about a bare interpreter start).

`--help`, `config`, `status`, and `check` up to the point where it opens a camera or a
microphone (here: no camera, the microphone check skipped): each runs in a fresh
interpreter, which then lists what it imported.
`scripts/bench cli` measures how fast they start (the README has the figure).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import free_port

HEAVY = ("aiortc", "av", "numpy", "aioice", "aiohttp", "prometheus_client", "jwt", "asyncio")
PROBE = (
    "import sys\n"
    "from alo_edge.cli import main\n"
    "try:\n"
    "    main(sys.argv[1:])\n"
    "except SystemExit:\n"
    "    pass\n"
    f"print('imported:', ','.join(m for m in {HEAVY!r} if m in sys.modules), file=sys.stderr)\n"
)


def light_config(tmp_path: Path) -> Path:
    port = free_port()  # nothing listens: the endpoint check fails fast on loopback
    path = tmp_path / "light.toml"
    path.write_text(
        "[device]\nuser_id = 'door-42'\n"
        f"[alo]\nchannel = 'c'\nurl = 'http://127.0.0.1:{port}/whip/c'\n"
        f"token_file = '{tmp_path / 'token'}'\n"
        "[video]\nsource = 'none'\n",
        encoding="utf-8",
    )
    (tmp_path / "token").write_text("opaque-bearer\n", encoding="utf-8")
    return path


@pytest.mark.parametrize(
    "command",
    [
        ["--help"],
        ["config", "-c", "{config}"],
        ["status", "--url", "127.0.0.1:{port}"],
        ["check", "-c", "{config}", "--skip", "microphone"],
    ],
    ids=["help", "config", "status", "check"],
)
def test_a_light_command_imports_no_heavy_library(command: list[str], tmp_path: Path) -> None:
    values = {"config": str(light_config(tmp_path)), "port": str(free_port())}
    args = [part.format(**values) for part in command]
    result = subprocess.run(
        [sys.executable, "-c", PROBE, *args], capture_output=True, text=True, timeout=60
    )
    imported = result.stderr.splitlines()[-1]
    assert imported == "imported: ", f"`alo-edge {' '.join(command)}` imported {imported}"
