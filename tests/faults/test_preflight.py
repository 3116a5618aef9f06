"""`alo-edge check` from the device's namespace: a name that does not resolve, a server that
does not answer, and the same lab reached when the network is fine.

The device namespace's resolv.conf names 127.0.0.1 inside it, so a lookup fails there
without a packet leaving the machine; the blackhole is nftables dropping at ingress.
"""

from __future__ import annotations

import subprocess

import pytest

from tests.faults.rig import CHANNEL, LAB_PORT, USER, FaultRig
from tests.helpers import STEP, alo_edge_command, device_config, write_toml


def check(rig: FaultRig, access_url: str) -> subprocess.CompletedProcess[str]:
    """`alo-edge check --only endpoint` in the device namespace against ``access_url``."""
    if not rig.token_file.exists():
        rig.write_token(rig.mint(ttl_minutes=3 * 24 * 60))
    document = device_config(
        user_id=USER, channel=CHANNEL, token_file=rig.token_file, access_url=access_url
    )
    # The lab is on a veth address, not loopback: plain http there needs saying so.
    document["network"] = {**document.get("network", {}), "allow_insecure": True}
    config = write_toml(rig.workdir / "check.toml", document)
    return subprocess.run(
        rig.net.in_device(*alo_edge_command(), "check", "-c", str(config), "--only", "endpoint"),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=3 * STEP,
        check=False,
    )


def endpoint_line(result: subprocess.CompletedProcess[str]) -> str:
    lines = [line for line in result.stdout.splitlines() if " access endpoint: " in line]
    assert len(lines) == 1, result.stdout + result.stderr
    return lines[0]


@pytest.mark.timeout(90)
def test_check_names_dns_and_a_silent_server_and_passes_when_the_network_is_fine(
    rig: FaultRig,
) -> None:
    rig.start_lab()

    unresolved = f"http://lab.door.example:{LAB_PORT}/v1/video/access"
    result = check(rig, unresolved)
    assert result.returncode == 1
    assert endpoint_line(result).startswith(
        f"FAIL access endpoint: {unresolved}: DNS: cannot resolve lab.door.example ("
    )
    assert endpoint_line(result).endswith(
        "; fix: check the host name, and the network's DNS (`resolvectl status`)"
    )

    reachable = f"{rig.lab_url}/v1/video/access"
    result = check(rig, reachable)
    assert result.returncode == 0, result.stdout + result.stderr
    assert endpoint_line(result).startswith(f"ok   access endpoint: {reachable} grants channel")

    rig.net.blackhole()
    result = check(rig, reachable)
    assert result.returncode == 1
    assert endpoint_line(result) == (
        f"FAIL access endpoint: {reachable}: TCP: no answer within 5 s; fix: is the server "
        "up on that port, and does a firewall let the device through?"
    )
