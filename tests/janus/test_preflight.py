"""`alo-edge check` against Debian's Janus: `info` on its WebSocket names the server and
proves the VideoRoom plugin is loaded; nothing joins, nothing is published."""

from __future__ import annotations

import pytest

from tests.helpers import STEP, alo_edge_command
from tests.janus.rig import WS_URL, JanusRig, device_config

pytestmark = pytest.mark.janus


def test_check_asks_janus_for_info(rig: JanusRig) -> None:
    config = device_config(rig.workdir / "door.toml", rig.workdir / "token")
    check = rig.start(
        [*alo_edge_command(), "check", "-c", str(config), "--only", "endpoint"], name="check"
    )
    assert check.wait(STEP) == 0, check.events.tail() + check.stderr.tail()
    lines = check.events.lines
    janus = [line for line in lines if line.startswith("ok   Janus: ")]
    assert len(janus) == 1, lines
    assert janus[0].startswith(f"ok   Janus: {WS_URL}: Janus ")
    assert janus[0].endswith(
        " answers `info`, VideoRoom loaded (Janus checks the token when the device joins)"
    )

    rig.kill_janus()
    check = rig.start(
        [*alo_edge_command(), "check", "-c", str(config), "--only", "endpoint"], name="check-2"
    )
    assert check.wait(STEP) == 1
    assert f"FAIL Janus: {WS_URL}: TCP: connection refused; fix: " in "\n".join(check.events.lines)
