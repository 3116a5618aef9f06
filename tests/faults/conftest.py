"""The fault tier: root, two network namespaces joined by veth, nftables and tbf.

Skipped without root or without ``ip``/``nft``/``tc`` (and a skip fails the run in CI,
where the tier must run). Each test gets its own rig; its processes are killed by
process group and its namespaces deleted when the test ends, pass or fail, and
leftovers of a killed run are removed when a rig is made.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.faults.netlab import available
from tests.faults.rig import FaultRig
from tests.netns import mark_tier, node_tag

_UNAVAILABLE = available()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    mark_tier(items, "tests/faults/", "faults", _UNAVAILABLE)


@pytest.fixture
def rig(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[FaultRig]:
    """A lab namespace and a device namespace; nothing started in them yet."""
    made = FaultRig(tmp_path, node_tag(request))
    try:
        yield made
    finally:
        made.close()
