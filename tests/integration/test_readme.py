"""The README's by-hand block, pasted as a whole into bash, gets a device CONNECTED.

The block is taken from README.md as it is written (the first ``sh`` block after the
"by hand" heading) and run by bash in the checkout, with a temporary HOME (the lab's
state, the token and the device config land there) and the lab on a free port
(``ALO_LAB``, which the block reads). Nothing is started by hand before it: the lab
comes up in the block's background while ``alo-edge token`` waits for it.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import Proc, free_port, receiving, state_is, wait_for_channel

ROOT = Path(__file__).resolve().parents[2]
#: The example config's channel, which the block publishes into.
CHANNEL = "front-door"
#: Lab start, token, device start and connect, on a loaded 2-core machine.
CONNECT_WITHIN = 60.0


def by_hand_block(readme: str) -> str:
    """The first ```sh block after the line that says "by hand"."""
    after = readme[readme.lower().index("by hand") :]
    match = re.search(r"```sh\n(.*?)```", after, re.DOTALL)
    assert match is not None, "no ```sh block after 'by hand' in README.md"
    return match.group(1)


@pytest.fixture
def pasted(tmp_path: Path) -> Iterator[tuple[Proc, str]]:
    """bash running the block: ``(the process, the lab's URL)``; its whole group killed after."""
    block = by_hand_block((ROOT / "README.md").read_text(encoding="utf-8"))
    assert (ROOT / ".venv" / "bin" / "alo-edge").exists(), "the block runs .venv: scripts/setup"
    home = tmp_path / "home"
    home.mkdir()
    lab = f"127.0.0.1:{free_port()}"
    env = {**os.environ, "HOME": str(home), "ALO_LAB": lab}
    env.pop("XDG_STATE_HOME", None)  # the lab and `token` agree on ~/.local/state
    proc = Proc(["bash", "-c", block], name="readme-block", env=env, cwd=ROOT)
    try:
        yield proc, f"http://{lab}"
    finally:
        proc.kill()  # the device, and the lab the block left in the background


def test_the_by_hand_block_pasted_as_a_whole_connects(pasted: tuple[Proc, str]) -> None:
    proc, lab_url = pasted
    proc.wait_for(state_is("CONNECTED"), CONNECT_WITHIN, "CONNECTED from the pasted block")
    # What the second terminal's curl shows: the lab decodes the device's video and audio.
    report = wait_for_channel(lab_url, CHANNEL, receiving)
    assert report["framesDecoded"] > 0
    assert not [line for line in proc.stderr.lines if "Traceback" in line], proc.stderr.tail()
