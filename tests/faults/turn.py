"""TURN through a firewall: Debian's coturn beside the lab, the device behind a NAT.

The rig is :class:`tests.faults.natlab.NatNet`: device -- NAT -- lab, and coturn in a
namespace of its own on the lab's side. Two ways to authenticate, as deployments do:

- the TURN REST scheme (coturn ``--use-auth-secret``): the lab, started with
  ``--turn URL ... --turn-secret-file``, puts short-lived credentials into each access
  answer; the device has no TURN configuration at all;
- a fixed user (``--lt-cred-mech --user``), configured on the device in
  ``alo.ice_servers`` (the wrong-password case).

Each scenario returns a :class:`~tests.faults.scenarios.FaultResult`: CONNECTED after
the device started (in ``recover_s``), the lab's median fps over the following
seconds, and which path the media took (UDP, or TURN over TCP), read from the NAT's
byte counters.
"""

from __future__ import annotations

import contextlib
import secrets
import socket
import statistics
import time
from pathlib import Path

from tests.faults.natlab import TURN_ADDRESS, TURN_PORT, TURN_TLS_PORT, NatNet
from tests.faults.rig import LAB_PORT, FaultRig
from tests.faults.scenarios import FaultResult, self_signed_certificate, state_is
from tests.helpers import STEP, Proc

TURN_UDP = f"turn:{TURN_ADDRESS}:{TURN_PORT}?transport=udp"
TURN_TCP = f"turn:{TURN_ADDRESS}:{TURN_PORT}?transport=tcp"
TURN_TLS = f"turns:{TURN_ADDRESS}:{TURN_TLS_PORT}"
#: A firewall fallback list as an operator writes it: UDP first, then TCP.
FALLBACK_LIST = (TURN_UDP, TURN_TCP)
#: How long the lab's fps is watched once the device is CONNECTED.
WATCH_SECONDS = 12.0


def nat_rig(workdir: Path, tag: str) -> FaultRig:
    """A fault rig whose device sits behind a NAT, with a namespace for a TURN server."""
    return FaultRig(workdir, tag, NatNet(tag, LAB_PORT))


def nat(rig: FaultRig) -> NatNet:
    assert isinstance(rig.net, NatNet)
    return rig.net


def start_coturn(rig: FaultRig, *auth: str, tls: tuple[Path, Path] | None = None) -> Proc:
    """Debian's ``turnserver`` in the TURN namespace; returns once it accepts TCP.

    ``tls``: (certificate, key) to listen for TURN over TLS on port 5349 too.
    """
    net = nat(rig)
    listeners = ["--no-tls"]
    if tls is not None:
        listeners = ["--tls-listening-port", str(TURN_TLS_PORT), "--cert", str(tls[0]),
                     "--pkey", str(tls[1])]  # fmt: skip
    turn = rig.procs.start(
        net.in_turn(
            "turnserver", "-n", "--listening-ip", TURN_ADDRESS, "--relay-ip", TURN_ADDRESS,
            "--listening-port", str(TURN_PORT), "--min-port", "49152", "--max-port", "49999",
            "--realm", "alo-lab", *listeners, "--no-dtls", "--no-cli", "--fingerprint",
            "--no-software-attribute", "--log-file", "stdout", "--simple-log",
            "--pidfile", str(rig.workdir / "turnserver.pid"), *auth,
        ),
        name="coturn",
    )  # fmt: skip
    deadline = time.monotonic() + STEP
    while not net.call_in_lab(lambda: _accepts(TURN_ADDRESS, TURN_PORT)):
        if not turn.running:
            raise AssertionError(f"turnserver exited:\n{turn.stderr.tail()}")
        assert time.monotonic() < deadline, "turnserver did not listen within 10 s"
        time.sleep(0.1)
    return turn


def _accepts(host: str, port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=1.0):
        return True
    return False


def start_lab_with_turn(
    rig: FaultRig, urls: tuple[str, ...], tls: tuple[Path, Path] | None = None
) -> str:
    """coturn with a shared secret, and a lab whose access answers carry credentials for it."""
    secret = secrets.token_hex(16)
    start_coturn(rig, "--use-auth-secret", f"--static-auth-secret={secret}", tls=tls)
    secret_file = rig.workdir / "turn-secret"
    secret_file.write_text(secret + "\n", encoding="utf-8")
    secret_file.chmod(0o600)
    options = [arg for url in urls for arg in ("--turn", url)]
    rig.start_lab(*options, "--turn-secret-file", str(secret_file))
    return secret


def media_path(rig: FaultRig, udp_before: int, tcp_before: int) -> str:
    """What carried the media since the counters read ``*_before``: "UDP" or "TURN/TCP"."""
    net = nat(rig)
    udp = net.device_udp_bytes() - udp_before
    tcp = net.device_turn_tcp_bytes() - tcp_before
    if tcp > 10 * max(udp, 1) and tcp > 1_000_000:
        return "TURN/TCP"
    if udp > 10 * max(tcp, 1) and udp > 1_000_000:
        return "UDP"
    return f"unclear (UDP {udp} B, TURN/TCP {tcp} B)"


def connect_and_watch(
    rig: FaultRig, name: str, *, udp_blocked: bool, env: dict[str, str] | None = None
) -> FaultResult:
    """Start the device, time CONNECTED, then watch the lab's fps and the path media takes."""
    net = nat(rig)
    if udp_blocked:
        net.drop_udp()
    result = FaultResult(fault=name, duration_s=WATCH_SECONDS)
    started = time.time()
    device = rig.start_device(env=env)
    connected = device.wait_for(state_is("CONNECTED"), timeout=3 * STEP, what="CONNECTED")
    result.recover_s = round(connected["ts"] - started, 2)
    result.rss_start_kib = rig.device_health()["rss_kib"]
    udp_before, tcp_before = net.device_udp_bytes(), net.device_turn_tcp_bytes()
    samples = []
    watch_until = time.time() + WATCH_SECONDS
    while (left := watch_until - time.time()) > 0:
        time.sleep(min(2.0, left))
        samples.append(float((rig.channel() or {}).get("fps", 0.0)))
    settled = samples[2:] or samples  # the lab's fps counts over 5 s
    result.median_fps = round(statistics.median(settled), 1)
    result.min_fps = min(settled)
    result.media_path = media_path(rig, udp_before, tcp_before)
    errors = [e for e in device.events.snapshot() if state_is("ERROR")(e)]
    result.messages = [str(e["detail"].get("message", "")) for e in errors]
    result.alive = device.running
    result.rss_end_kib = rig.device_health()["rss_kib"]
    return result


def fallback_list(rig: FaultRig, *, udp_blocked: bool) -> FaultResult:
    """The lab names TURN over UDP, then over TCP, with short-lived credentials."""
    start_lab_with_turn(rig, FALLBACK_LIST)
    blocked = "UDP dropped" if udp_blocked else "UDP allowed"
    return connect_and_watch(rig, f"TURN udp,tcp list, NAT, {blocked}", udp_blocked=udp_blocked)


def turn_over_tls(rig: FaultRig) -> FaultResult:
    """UDP dropped and only ``turns:`` named: TURN over TLS, trusted through SSL_CERT_FILE."""
    cert, key = self_signed_certificate(rig.workdir, TURN_ADDRESS)
    start_lab_with_turn(rig, (TURN_TLS,), tls=(cert, key))
    # aioice verifies the TURN server's certificate with Python's default context: the
    # device trusts this one certificate as a deployment trusts its CA.
    return connect_and_watch(
        rig, "TURN over TLS only, NAT, UDP dropped", udp_blocked=True,
        env={"SSL_CERT_FILE": str(cert)},
    )  # fmt: skip


def wrong_turn_password(rig: FaultRig) -> tuple[FaultResult, str]:
    """UDP dropped, the only way out is TURN over TCP, and its password is wrong.

    Returns the result and the first ERROR's message (what a person reads).
    """
    start_coturn(rig, "--lt-cred-mech", "--user", "door:the-right-password")
    rig.start_lab()
    nat(rig).drop_udp()
    result = FaultResult(fault="TURN password wrong, UDP dropped", duration_s=0.0)
    started = time.time()
    device = rig.start_device(
        alo={
            "ice_servers": [
                {"urls": [TURN_TCP], "username": "door", "credential": "not-the-password"}
            ]
        }
    )
    error = device.wait_for(state_is("ERROR"), timeout=3 * STEP, what="ERROR")
    result.detect_s = round(error["ts"] - started, 2)
    message = str(error["detail"].get("message", ""))
    result.messages.append(message)
    result.alive = device.running
    return result, message
