"""The Janus tier: root; Debian's Janus in a private network namespace, a device beside it.

Skipped without root or without the janus package (``scripts/setup`` installs it),
and a skip fails the run in CI (``tests/conftest.py``). Each test gets its own rig:
a fresh namespace and Janus; everything it started is killed by PID when the test
ends, pass or fail, and leftovers of a killed run are removed when a rig is made.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.janus.rig import JanusRig, unavailable
from tests.netns import mark_tier, node_tag

_UNAVAILABLE = unavailable()


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "janus: root; Debian's Janus in a network namespace")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    mark_tier(items, "tests/janus/", "janus", _UNAVAILABLE)


@pytest.fixture
def rig(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[JanusRig]:
    """A namespace with Janus started in it; torn down by PID whatever the test did."""
    made = JanusRig(tmp_path, node_tag(request))
    try:
        made.create()
        made.start_janus()
        yield made
    finally:
        made.close()


#: What the tier measured (name -> text), reported at the end of the run.
MEASURED: dict[str, str] = {}


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if MEASURED:
        terminalreporter.write_line("Janus tier measured:")
        for name, value in MEASURED.items():
            terminalreporter.write_line(f"  {name}: {value}")
