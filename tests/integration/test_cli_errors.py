"""Expected operational errors are one line on stderr and an exit code, never a traceback."""

from __future__ import annotations

import pytest

from tests.helpers import LabProcess, run_cli

pytestmark = pytest.mark.integration


def test_a_lab_on_a_taken_port_says_so_in_one_line(lab: LabProcess) -> None:
    # A second `alo-edge lab` as a user starts it by mistake: same state, same port.
    taken = f"127.0.0.1:{lab.port}"
    result = run_cli("lab", "--listen", taken, "--state-dir", str(lab.state_dir))
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        f"alo-edge: the lab cannot listen on {taken}: address already in use (another lab, "
        "or another program, has it)"
    ]


def test_status_takes_the_status_listen_value(lab: LabProcess) -> None:
    # Not a device, but an HTTP server that is not alo-edge's status: one line, exit 1.
    result = run_cli("status", "--url", f"127.0.0.1:{lab.port}")
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        f"alo-edge: http://127.0.0.1:{lab.port}/status answered HTTP 404: is it alo-edge's status?"
    ]
    usage = run_cli("status", "--url", "door")
    assert usage.returncode == 2
    assert usage.stderr.splitlines()[-1] == (
        "alo-edge status: error: argument --url: expected HOST:PORT (status.listen, e.g. "
        "127.0.0.1:8787) or an http:// URL, got 'door'"
    )
