"""A delaying link between the fault rig's namespaces, for machines without netem.

There is no ``sch_netem`` here, so delay is made in user space: one TUN interface in
the device namespace and one in the lab namespace, a /32 route in each that sends the
other end's traffic through its TUN instead of the veth, and this process in between
holding every IP packet for ``delay +- jitter`` ms (uniform) before passing it on.
Each direction is delayed once and keeps its order (a departure never precedes the
one before it), as a congested Wi-Fi hop delays rather than reorders. It carries
everything (the WHIP signalling over TCP too), as a real slow hop would.

Started by the rig from the host namespace (``python -m tests.faults.delay_link``), it
prints one JSON line ``{"event": "ready"}`` once the routes are in place. Killing it
closes the TUN file descriptors, which removes both interfaces and their routes: the
traffic is back on the veth at once, so no clean-up step can be forgotten.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import heapq
import json
import os
import random
import selectors
import struct
import sys
import time
from collections.abc import Sequence

from tests.netns import call_in_namespace, sh

TUNSETIFF = 0x400454CA
IFF_TUN = 0x0001
IFF_NO_PI = 0x1000
INTERFACE = "tdly"
MAX_PACKET = 65535


def open_tun(namespace: str, name: str) -> int:
    """A TUN interface ``name`` inside ``namespace``; its file descriptor (this process's)."""

    def make() -> int:
        fd = os.open("/dev/net/tun", os.O_RDWR | os.O_NONBLOCK)
        fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH", name.encode(), IFF_TUN | IFF_NO_PI))
        return fd

    return call_in_namespace(namespace, make, 5.0)


def route_through(namespace: str, local: str, remote: str) -> None:
    """Bring the TUN up and send ``remote`` through it; no reverse-path filter on it."""
    sh("ip", "-n", namespace, "link", "set", INTERFACE, "up")
    for key in ("all", INTERFACE):
        sh("ip", "netns", "exec", namespace, "sysctl", "-qw", f"net.ipv4.conf.{key}.rp_filter=0")
    sh("ip", "-n", namespace, "route", "replace", f"{remote}/32", "dev", INTERFACE, "src", local)


class DelayLine:
    """Packets in, the same packets out ``delay +- jitter`` seconds later, in order."""

    def __init__(self, delay: float, jitter: float, rng: random.Random) -> None:
        self._delay, self._jitter, self._rng = delay, jitter, rng
        self._last_departure = 0.0
        self.queue: list[tuple[float, int, bytes]] = []
        self._count = 0

    def push(self, now: float, packet: bytes) -> None:
        departure = now + self._delay + self._rng.uniform(-self._jitter, self._jitter)
        departure = max(departure, self._last_departure)
        self._last_departure = departure
        self._count += 1
        heapq.heappush(self.queue, (departure, self._count, packet))

    def due(self, now: float) -> list[bytes]:
        ready = []
        while self.queue and self.queue[0][0] <= now:
            ready.append(heapq.heappop(self.queue)[2])
        return ready

    def next_departure(self) -> float | None:
        return self.queue[0][0] if self.queue else None


def run(device_fd: int, lab_fd: int, delay: float, jitter: float) -> None:
    """Forward between the two TUNs through a delay line each way, until killed."""
    rng = random.Random(1)
    lines = {device_fd: (DelayLine(delay, jitter, rng), lab_fd)}
    lines[lab_fd] = (DelayLine(delay, jitter, rng), device_fd)
    selector = selectors.DefaultSelector()
    for fd in lines:
        selector.register(fd, selectors.EVENT_READ)
    while True:
        departures = [d for line, _ in lines.values() if (d := line.next_departure()) is not None]
        timeout = None if not departures else max(0.0, min(departures) - time.monotonic())
        for key, _ in selector.select(timeout):
            source = int(key.fd)  # type: ignore[arg-type]
            while True:
                try:
                    packet = os.read(source, MAX_PACKET)
                except BlockingIOError:
                    break
                lines[source][0].push(time.monotonic(), packet)
        now = time.monotonic()
        for line, target in lines.values():
            for packet in line.due(now):
                # A full queue drops the packet, as a real hop would.
                with contextlib.suppress(OSError):
                    os.write(target, packet)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device-ns", required=True)
    parser.add_argument("--lab-ns", required=True)
    parser.add_argument("--device-address", required=True)
    parser.add_argument("--lab-address", required=True)
    parser.add_argument("--delay-ms", type=float, default=200.0)
    parser.add_argument("--jitter-ms", type=float, default=50.0)
    args = parser.parse_args(argv)
    device_fd = open_tun(args.device_ns, INTERFACE)
    lab_fd = open_tun(args.lab_ns, INTERFACE)
    route_through(args.device_ns, args.device_address, args.lab_address)
    route_through(args.lab_ns, args.lab_address, args.device_address)
    print(json.dumps({"event": "ready"}), flush=True)
    run(device_fd, lab_fd, args.delay_ms / 1000, args.jitter_ms / 1000)
    return 0


if __name__ == "__main__":
    sys.exit(main())
