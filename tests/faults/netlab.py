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

import json
import os
import shutil
from collections.abc import Callable
from typing import TypeVar

from tests import netns
from tests.netns import COMMAND_TIMEOUT, NETNS_ETC, call_in_namespace, delete_namespace, sh

PREFIX = "aloedge-t-"
DEVICE_ADDRESS = "198.18.0.1"
LAB_ADDRESS = "198.18.0.2"
PREFIX_LENGTH = 24
DEVICE_IF = "vdev"
LAB_IF = "vlab"

T = TypeVar("T")


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


class NetPair:
    """The device namespace and the lab namespace, joined by one veth pair."""

    def __init__(self, tag: str, lab_port: int) -> None:
        base = netns.namespace_name(PREFIX, tag)
        self.device_ns = f"{base}-dev"
        self.lab_ns = f"{base}-lab"
        self.lab_port = lab_port
        self.device_address = DEVICE_ADDRESS
        self.lab_address = LAB_ADDRESS
        self._created: list[str] = []

    # --- life cycle --------------------------------------------------------------------

    def create(self) -> None:
        """Build both namespaces, the link, the addresses, the default route and the hooks."""
        for namespace in (self.device_ns, self.lab_ns):
            sh("ip", "netns", "add", namespace)
            self._created.append(namespace)
            sh("ip", "-n", namespace, "link", "set", "lo", "up")
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
        resolv = NETNS_ETC / self.device_ns / "resolv.conf"
        resolv.parent.mkdir(parents=True, exist_ok=True)
        resolv.write_text("nameserver 127.0.0.1\noptions timeout:1 attempts:1\n", encoding="utf-8")
        syn = (
            f"ip daddr {self.lab_address} tcp dport {self.lab_port} "
            'tcp flags & (syn | ack) == syn counter name "syns"'
        )
        self._nft(self.lab_ns, stdin=_RULESET.format(device=LAB_IF, count=syn))
        self._nft(self.device_ns, stdin=_RULESET.format(device=DEVICE_IF, count=""))

    def destroy(self) -> None:
        """Delete both namespaces (killing anything still inside, by PID)."""
        for namespace in reversed(self._created):
            delete_namespace(namespace)
        self._created.clear()

    # --- processes ---------------------------------------------------------------------

    def in_device(self, *command: str) -> list[str]:
        """``command`` prefixed to run inside the device namespace."""
        return ["ip", "netns", "exec", self.device_ns, *command]

    def in_lab(self, *command: str) -> list[str]:
        """``command`` prefixed to run inside the lab namespace."""
        return ["ip", "netns", "exec", self.lab_ns, *command]

    def call_in_lab(self, function: Callable[[], T], timeout: float = COMMAND_TIMEOUT) -> T:
        """Run ``function`` with the lab namespace's network (HTTP to the lab's address)."""
        return call_in_namespace(self.lab_ns, function, timeout)

    def call_in_device(self, function: Callable[[], T], timeout: float = COMMAND_TIMEOUT) -> T:
        """Run ``function`` with the device namespace's network (its status endpoint)."""
        return call_in_namespace(self.device_ns, function, timeout)

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
        listing = json.loads(
            self._nft(self.lab_ns, "-j", "list", "counter", "netdev", "aloedge", "syns")
        )
        for item in listing["nftables"]:
            if "counter" in item:
                packets: int = item["counter"]["packets"]
                return packets
        raise RuntimeError(f"no counter in {listing}")

    def _set_fault(self, rule: str | None) -> None:
        for namespace in (self.device_ns, self.lab_ns):
            commands = "flush chain netdev aloedge faults\n"
            if rule is not None:
                commands += f"add rule netdev aloedge faults {rule}\n"
            self._nft(namespace, stdin=commands)

    @staticmethod
    def _nft(namespace: str, *args: str, stdin: str | None = None) -> str:
        if stdin is not None:
            return sh("ip", "netns", "exec", namespace, "nft", "-f", "-", stdin=stdin)
        return sh("ip", "netns", "exec", namespace, "nft", *args)
