"""A device behind a NAT, a lab and a TURN server on the other side: four namespaces.

::

    device 198.18.2.1 --vdev/n-dev-- NAT (router) --n-lab/vlab-- lab  198.18.0.2
                                         |
                                      n-trn/vtrn
                                         |
                                      TURN 198.18.3.2 (Debian's coturn)

The NAT namespace routes between the three and masquerades what leaves the device's
side, as a home router does; nothing from outside reaches the device unless it is an
answer (conntrack). :meth:`NatNet.drop_udp` drops every UDP packet the device sends
(a firewall that lets only TCP out): then only TURN over TCP gets media through.
Counters in the NAT namespace say how much the device sent as UDP and how much
over TCP to the TURN server, so a test can tell which path the media took.

Addresses are from 198.18.0.0/15 (benchmarking, never routed elsewhere); names start
with the fault tier's prefix so leftovers of a killed run are removed by
:func:`tests.faults.netlab.remove_leftovers`. The rest of the rig sees the same
interface as :class:`tests.faults.netlab.NetPair`.
"""

from __future__ import annotations

from tests.faults.netlab import PREFIX
from tests.netns import DeviceAndLab, sh

DEVICE_ADDRESS = "198.18.2.1"
NAT_DEVICE_SIDE = "198.18.2.2"
NAT_LAB_SIDE = "198.18.0.1"
LAB_ADDRESS = "198.18.0.2"
NAT_TURN_SIDE = "198.18.3.1"
TURN_ADDRESS = "198.18.3.2"
TURN_PORT = 3478
TURN_TLS_PORT = 5349


_NAT_RULES = """
table inet aloedge {{
    counter device_udp {{}}
    counter device_turn_tcp {{}}
    chain forward {{
        type filter hook forward priority 0; policy accept;
        iifname "n-dev" meta l4proto udp counter name "device_udp"
        iifname "n-dev" ip daddr {turn} tcp dport {{ {port}, {tls_port} }} \
            counter name "device_turn_tcp"
        jump faults
        ct state established,related accept
        oifname "n-dev" drop
    }}
    chain faults {{
    }}
}}
table ip aloedge_nat {{
    chain postrouting {{
        type nat hook postrouting priority srcnat; policy accept;
        ip saddr {device}/24 oifname != "n-dev" masquerade
    }}
}}
"""
_LAB_RULES = """
table netdev aloedge {{
    counter syns {{}}
    chain ingress {{
        type filter hook ingress device "vlab" priority 0; policy accept;
        ip daddr {lab} tcp dport {port} tcp flags & (syn | ack) == syn counter name "syns"
    }}
}}
"""


class NatNet(DeviceAndLab):
    """The four namespaces and their links; :meth:`destroy` removes all of it."""

    def __init__(self, tag: str, lab_port: int) -> None:
        super().__init__(PREFIX, tag, lab_port, DEVICE_ADDRESS, LAB_ADDRESS)
        self.nat_ns = f"{self.base_name}-nat"
        self.turn_ns = f"{self.base_name}-trn"
        self.turn_address = TURN_ADDRESS

    def create(self) -> None:
        for namespace in (self.device_ns, self.nat_ns, self.lab_ns, self.turn_ns):
            self.add_namespace(namespace)
        links = (
            (self.device_ns, "vdev", DEVICE_ADDRESS, "n-dev", NAT_DEVICE_SIDE),
            (self.lab_ns, "vlab", LAB_ADDRESS, "n-lab", NAT_LAB_SIDE),
            (self.turn_ns, "vtrn", TURN_ADDRESS, "n-trn", NAT_TURN_SIDE),
        )
        for namespace, inside, address, outside, gateway in links:
            sh(
                "ip", "link", "add", inside, "netns", namespace, "type", "veth",
                "peer", "name", outside, "netns", self.nat_ns,
            )  # fmt: skip
            sh("ip", "-n", namespace, "addr", "add", f"{address}/24", "dev", inside)
            sh("ip", "-n", self.nat_ns, "addr", "add", f"{gateway}/24", "dev", outside)
            sh("ip", "-n", namespace, "link", "set", inside, "up")
            sh("ip", "-n", self.nat_ns, "link", "set", outside, "up")
            sh("ip", "-n", namespace, "route", "replace", "default", "via", gateway)
        sh("ip", "netns", "exec", self.nat_ns, "sysctl", "-qw", "net.ipv4.ip_forward=1")
        rules = _NAT_RULES.format(
            turn=TURN_ADDRESS, port=TURN_PORT, tls_port=TURN_TLS_PORT, device=DEVICE_ADDRESS
        )
        self.nft(self.nat_ns, stdin=rules)
        self.nft(self.lab_ns, stdin=_LAB_RULES.format(lab=LAB_ADDRESS, port=self.lab_port))
        self.no_dns_in_device()

    # --- processes ---------------------------------------------------------------------

    def in_turn(self, *command: str) -> list[str]:
        return ["ip", "netns", "exec", self.turn_ns, *command]

    # --- the firewall ------------------------------------------------------------------

    def drop_udp(self) -> None:
        """Drop every UDP packet the device sends (on the way through the NAT)."""
        self._faults('iifname "n-dev" meta l4proto udp drop')

    def allow_udp(self) -> None:
        self._faults(None)

    def device_udp_bytes(self) -> int:
        """UDP bytes the device sent through the NAT (dropped ones included)."""
        return self.counter(self.nat_ns, "inet", "device_udp", "bytes")

    def device_turn_tcp_bytes(self) -> int:
        """Bytes the device sent over TCP (and TLS) to the TURN server."""
        return self.counter(self.nat_ns, "inet", "device_turn_tcp", "bytes")

    def syn_count(self) -> int:
        return self.counter(self.lab_ns, "netdev", "syns", "packets")

    def _faults(self, rule: str | None) -> None:
        commands = "flush chain inet aloedge faults\n"
        if rule is not None:
            commands += f"add rule inet aloedge faults {rule}\n"
        self.nft(self.nat_ns, stdin=commands)
