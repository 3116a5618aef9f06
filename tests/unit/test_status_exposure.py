"""`alo-edge check` and the service warn when the status endpoint listens beyond loopback."""

from __future__ import annotations

import pytest

from alo_edge.config import Listen, config_from_dict
from alo_edge.preflight import Verdict, default_checks, run_checks

DOC = {"device": {"user_id": "d"}, "alo": {"url": "http://127.0.0.1:9/w", "channel": "c"}}


@pytest.mark.parametrize(
    ("listen", "loopback"),
    [
        ("127.0.0.1:8787", True),
        ("127.0.0.53:1", True),
        ("[::1]:8787", True),
        ("localhost:8787", True),
        ("0.0.0.0:8787", False),
        ("[::]:8787", False),
        ("192.168.1.20:8787", False),
        ("door.local:8787", False),  # a name: what it resolves to is not known here
    ],
)
def test_loopback_is_this_machine_only(listen: str, loopback: bool) -> None:
    assert Listen.parse(listen, "status.listen").loopback is loopback


def test_check_warns_about_a_status_endpoint_beyond_loopback() -> None:
    open_doc = {**DOC, "status": {"listen": "0.0.0.0:8787"}}
    findings = run_checks(config_from_dict(open_doc), default_checks())
    status = [f for f in findings if f.check == "status"]
    assert [f.verdict for f in status] == [Verdict.WARN]
    assert "beyond loopback" in status[0].message
    assert status[0].fix is not None
    assert '"127.0.0.1:8787"' in status[0].fix

    private = run_checks(config_from_dict(DOC), default_checks())
    assert [f.verdict for f in private if f.check == "status"] == [Verdict.OK]
