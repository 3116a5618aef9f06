"""Two network namespaces joined by veth, and the faults a consumer network inflicts on them.

The device runs in one namespace, the lab (and any gate in front of it) in the other,
each process started with ``ip netns exec``. Faults are applied where FIELD-NOTES says
they behave like a real network:

- drops (blackhole, random loss) at the netdev *ingress* hook of both ends, so a
  sender's ``send()`` still succeeds and the packets vanish on the way, as on Wi-Fi;
- bandwidth with a tbf qdisc on the device's egress (its uplink);
- link down/up on the device's interface; coming back, the test plays dhcpcd and
  puts the default route back, which is what a Pi's network stack does.

Addresses come from 198.18.0.0/15, the block set aside for benchmarking on isolated
networks: the namespaces have no route anywhere else, so nothing leaves them. The
device namespace gets its own resolv.conf (``/etc/netns/NAME``) naming 127.0.0.1, so a
name lookup there is answered "unreachable" inside the namespace.

Every name starts with ``aloedge-t-<pid>-`` so a run can remove what a killed run left
behind without touching a run still in progress.
"""

from __future__ import annotations

import os
import shutil

from tests import netns
from tests.netns import DeviceAndLab, sh

PREFIX = "aloedge-t-"
DEVICE_ADDRESS = "198.18.0.1"
LAB_ADDRESS = "198.18.0.2"
PREFIX_LENGTH = 24
DEVICE_IF = "vdev"
LAB_IF = "vlab"


def available() -> str | None:
    """Why this machine cannot run the fault tier, or None when it can."""
    if os.geteuid() != 0:
        return "the fault tier needs root (network namespaces, nftables, tc)"
    for tool, package in (("ip", "iproute2"), ("nft", "nftables"), ("tc", "iproute2")):
        if shutil.which(tool) is None:
            return f"the fault tier needs {tool!r} (apt-get install {package})"
    if shutil.which("turnserver") is None:
        return "the fault tier's TURN rows need 'turnserver' (apt-get install coturn)"
    return None


def remove_leftovers() -> list[str]:
    """Delete this tier's namespaces of earlier runs whose owning process is gone."""
    return netns.remove_leftovers(PREFIX)


_RULESET = """
table netdev aloedge {{
    counter syns {{}}
    chain ingress {{
        type filter hook ingress device "{device}" priority 0; policy accept;
        {count}
        jump faults
    }}
    chain faults {{
    }}
}}
"""


class NetPair(DeviceAndLab):
    """The device namespace and the lab namespace, joined by one veth pair."""

    def __init__(self, tag: str, lab_port: int) -> None:
        super().__init__(PREFIX, tag, lab_port, DEVICE_ADDRESS, LAB_ADDRESS)

    # --- life cycle --------------------------------------------------------------------

    def create(self) -> None:
        """Build both namespaces, the link, the addresses, the default route and the hooks."""
        for namespace in (self.device_ns, self.lab_ns):
            self.add_namespace(namespace)
        sh(
            "ip", "link", "add", DEVICE_IF, "netns", self.device_ns, "type", "veth",
            "peer", "name", LAB_IF, "netns", self.lab_ns,
        )  # fmt: skip
        for namespace, interface, address in (
            (self.device_ns, DEVICE_IF, self.device_address),
            (self.lab_ns, LAB_IF, self.lab_address),
        ):
            sh("ip", "-n", namespace, "addr", "add", f"{address}/{PREFIX_LENGTH}", "dev", interface)
            sh("ip", "-n", namespace, "link", "set", interface, "up")
        self.add_default_route()
        self.no_dns_in_device()
        syn = (
            f"ip daddr {self.lab_address} tcp dport {self.lab_port} "
            'tcp flags & (syn | ack) == syn counter name "syns"'
        )
        self.nft(self.lab_ns, stdin=_RULESET.format(device=LAB_IF, count=syn))
        self.nft(self.device_ns, stdin=_RULESET.format(device=DEVICE_IF, count=""))

    # --- faults ------------------------------------------------------------------------

    def blackhole(self) -> None:
        """Drop every packet arriving at either end; links stay up, nothing is told."""
        self._set_fault("drop")

    def loss(self, percent: int) -> None:
        """Drop ``percent`` % of the packets arriving at either end, at random."""
        self._set_fault(f"numgen random mod 100 < {percent} drop")

    def clear_drops(self) -> None:
        """Remove a blackhole or a loss rule."""
        self._set_fault(None)

    def limit_uplink(self, kbit: int) -> None:
        """Shape the device's uplink to ``kbit`` kbit/s with a token bucket."""
        sh(
            "ip", "netns", "exec", self.device_ns, "tc", "qdisc", "replace", "dev", DEVICE_IF,
            "root", "tbf", "rate", f"{kbit}kbit", "burst", "16kb", "latency", "200ms",
        )  # fmt: skip

    def clear_uplink_limit(self) -> None:
        """Remove the token bucket."""
        sh("ip", "netns", "exec", self.device_ns, "tc", "qdisc", "del", "dev", DEVICE_IF, "root")

    def link_down(self) -> None:
        """Take the device's interface down (its routes go with it, as when Wi-Fi drops)."""
        sh("ip", "-n", self.device_ns, "link", "set", DEVICE_IF, "down")

    def link_up(self) -> None:
        """Bring the interface back and, as dhcpcd would, the default route."""
        sh("ip", "-n", self.device_ns, "link", "set", DEVICE_IF, "up")
        self.add_default_route()

    def add_default_route(self) -> None:
        """The device namespace's default route, through the lab's end of the link."""
        sh("ip", "-n", self.device_ns, "route", "replace", "default", "via", self.lab_address)

    def syn_count(self) -> int:
        """TCP connection attempts (SYN, retransmissions included) that reached the lab's port."""
        return self.counter(self.lab_ns, "netdev", "syns", "packets")

    def _set_fault(self, rule: str | None) -> None:
        for namespace in (self.device_ns, self.lab_ns):
            commands = "flush chain netdev aloedge faults\n"
            if rule is not None:
                commands += f"add rule netdev aloedge faults {rule}\n"
            self.nft(namespace, stdin=commands)
