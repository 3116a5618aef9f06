"""The netlink watcher in a real namespace: the network coming back cuts a long wait short."""

from __future__ import annotations

import time

import pytest

from tests.faults.netlab import DEVICE_IF, sh
from tests.faults.rig import FaultRig
from tests.helpers import STEP, Event, Proc, state_is

#: Long enough that a cut-short wait cannot be mistaken for one that ran out (no jitter:
#: every wait is the whole 20 s window).
LONG_WAIT = {"initial_delay": 20, "max_delay": 30, "jitter": 0}


def waiting_long(device: Proc) -> Event:
    """The device has failed and sits in a wait of 10 s or more."""
    return device.wait_for(
        lambda e: state_is("RECONNECT_PENDING")(e) and e["detail"]["pendingRestartSeconds"] >= 10,
        timeout=2 * STEP,
        what="a RECONNECT_PENDING wait of 10 s or more",
    )


def assert_cut_short(device: Proc, pending: Event, changed_at: float) -> None:
    connected = device.wait_for(state_is("CONNECTED"), timeout=STEP, what="CONNECTED")
    took = connected["ts"] - changed_at
    assert took <= 3.0, took
    # The countdown still had at least 10 s to go when the network came back.
    assert connected["ts"] < pending["ts"] + 10, (pending, connected)


@pytest.mark.timeout(90)
def test_an_address_appearing_cuts_the_wait_short(rig: FaultRig) -> None:
    net = rig.net
    address = f"{net.device_address}/24"
    sh("ip", "-n", net.device_ns, "addr", "del", address, "dev", DEVICE_IF)
    rig.start_lab()
    device = rig.start_device(reconnect=LONG_WAIT)
    error = device.wait_for(state_is("ERROR"), what="ERROR without an address")
    assert "unreachable" in error["detail"]["message"]
    pending = waiting_long(device)

    sh("ip", "-n", net.device_ns, "addr", "add", address, "dev", DEVICE_IF)
    changed_at = time.time()

    assert_cut_short(device, pending, changed_at)


@pytest.mark.timeout(90)
def test_a_default_route_appearing_cuts_the_wait_short(rig: FaultRig) -> None:
    net = rig.net
    # A /32 has no on-link subnet: without a default route the lab is unreachable.
    sh("ip", "-n", net.device_ns, "addr", "del", f"{net.device_address}/24", "dev", DEVICE_IF)
    sh("ip", "-n", net.device_ns, "addr", "add", f"{net.device_address}/32", "dev", DEVICE_IF)
    rig.start_lab()
    device = rig.start_device(reconnect=LONG_WAIT)
    device.wait_for(state_is("ERROR"), what="ERROR without a route")
    pending = waiting_long(device)

    sh(
        "ip", "-n", net.device_ns, "route", "add", "default",
        "via", net.lab_address, "dev", DEVICE_IF, "onlink",
    )  # fmt: skip
    changed_at = time.time()

    assert_cut_short(device, pending, changed_at)
