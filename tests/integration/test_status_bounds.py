"""The status endpoint's bounds, on a real `alo-edge run`: connections, slow clients, labels.

A door intercom's status page has no auth and may be reachable from its LAN: a port
scanner or a slowloris must not pin its descriptors, and a Prometheus scraping it must
not see a new time series for every error message.
"""

from __future__ import annotations

import contextlib
import os
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from alo_edge.errors import ERROR_KINDS
from alo_edge.system.status import MAX_CONNECTIONS, REQUEST_DEADLINE
from tests.helpers import STEP, Proc, device_config, free_port, http_json, state_is

pytestmark = pytest.mark.integration

HALF_OPEN = 300


def open_fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def wait_for(probe: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not probe():
        if time.monotonic() > deadline:
            raise AssertionError(f"waited {timeout:g} s for {what}")
        time.sleep(0.1)


@contextlib.contextmanager
def connections(port: int, count: int) -> Iterator[list[socket.socket]]:
    """``count`` TCP connections to the port that never send a request (closed after)."""
    opened: list[socket.socket] = []
    try:
        for _ in range(count):
            opened.append(socket.create_connection(("127.0.0.1", port), timeout=STEP))
        yield opened
    finally:
        for sock in opened:
            sock.close()


def closed_by_server(sock: socket.socket) -> bool:
    """True once the server closed (or reset) the connection."""
    sock.setblocking(False)
    try:
        return sock.recv(1) == b""
    except BlockingIOError:
        return False
    except ConnectionResetError:
        return True


def metric_series(url: str, family_name: str) -> list[dict[str, str]]:
    import urllib.request

    with urllib.request.urlopen(f"{url}/metrics", timeout=5) as response:
        text = response.read().decode()
    for family in text_string_to_metric_families(text):
        if family.name == family_name:
            return [sample.labels for sample in family.samples]
    return []


@pytest.fixture
def retrying_device(start_device: Callable[..., Proc], tmp_path: Path) -> tuple[Proc, str]:
    """A device whose server is not there: it keeps retrying, its status page is up."""
    port = free_port()
    token = tmp_path / "token"
    token.write_text("opaque-token\n", encoding="utf-8")
    document = device_config(
        user_id="gate-1",
        channel="gate",
        token_file=token,
        access_url=f"http://127.0.0.1:{free_port()}/v1/video/access",
        reconnect={"initial_delay": 0.2, "max_delay": 0.5},
    )
    document["video"] = {"source": "synthetic", "width": 160, "height": 96, "fps": 5}
    document["status"] = {"listen": f"127.0.0.1:{port}"}
    device = start_device(document)
    device.wait_for(state_is("ERROR"), what="the first ERROR (nothing listens)")
    url = f"http://127.0.0.1:{port}"
    wait_for(lambda: http_json("GET", f"{url}/status")[0] == 200, STEP, "/status")
    return device, url


def test_300_half_open_connections_hold_at_most_the_cap_and_are_closed_at_the_deadline(
    retrying_device: tuple[Proc, str],
) -> None:
    device, url = retrying_device
    port = int(url.rsplit(":", 1)[1])
    baseline = open_fds(device.pid)

    with connections(port, HALF_OPEN) as idle:
        # Every connection was accepted by the kernel; the service holds at most the cap.
        wait_for(
            lambda: sum(closed_by_server(s) for s in idle) >= HALF_OPEN - MAX_CONNECTIONS,
            STEP,
            f"all but {MAX_CONNECTIONS} connections refused",
        )
        assert open_fds(device.pid) <= baseline + MAX_CONNECTIONS + 2
        # Those it took, it closes at the deadline: none is held for the keep-alive hour.
        started = time.monotonic()
        wait_for(
            lambda: all(closed_by_server(s) for s in idle),
            REQUEST_DEADLINE + STEP,
            "the held connections to be closed",
        )
        assert time.monotonic() - started <= REQUEST_DEADLINE + 1.5
    wait_for(lambda: open_fds(device.pid) <= baseline + 2, STEP, "the descriptors back")
    code, status = http_json("GET", f"{url}/status")
    assert code == 200, status
    assert device.running


def test_a_client_sending_its_headers_slowly_is_cut_off_at_the_deadline(
    retrying_device: tuple[Proc, str],
) -> None:
    device, url = retrying_device
    port = int(url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=STEP) as slow:
        started = time.monotonic()
        slow.sendall(b"GET /status HTTP/1.1\r\nHost: x\r\n")
        cut_off = None
        while time.monotonic() - started < REQUEST_DEADLINE + STEP:
            try:
                slow.sendall(b"X-Slow: 1\r\n")  # a header line every half second, never done
            except (BrokenPipeError, ConnectionResetError):
                cut_off = time.monotonic() - started
                break
            if closed_by_server(slow):
                cut_off = time.monotonic() - started
                break
            slow.setblocking(True)
            time.sleep(0.5)
    assert cut_off is not None, "the slow client was never cut off"
    assert REQUEST_DEADLINE - 0.5 <= cut_off <= REQUEST_DEADLINE + 1.5, cut_off
    assert device.running


def test_the_last_error_is_a_bounded_label_and_its_message_stays_in_status(
    retrying_device: tuple[Proc, str],
) -> None:
    device, url = retrying_device
    # Each distinct label value is a new series for Prometheus, kept for weeks: a message
    # (addresses, server text, counters) as a label grows without end; a kind cannot.
    device.wait_for(
        lambda e: state_is("ERROR")(e) and e["detail"].get("retryCount", 0) >= 3,
        what="three failed attempts",
    )
    series = metric_series(url, "alo_edge_last_error_info")
    assert series == [{"kind": "network"}], series
    assert set(ERROR_KINDS) == {"config", "hardware", "auth", "network", "server", "other"}
    _, status = http_json("GET", f"{url}/status")
    assert status["lastErrorKind"] == "network"
    assert "127.0.0.1" in status["lastError"]  # the message, with the address it could not reach


def test_listening_beyond_loopback_is_warned_about(
    start_device: Callable[..., Proc], tmp_path: Path
) -> None:
    token = tmp_path / "token"
    token.write_text("opaque-token\n", encoding="utf-8")
    document = device_config(
        user_id="gate-1",
        channel="gate",
        token_file=token,
        access_url=f"http://127.0.0.1:{free_port()}/v1/video/access",
    )
    # TEST-NET-1 (RFC 5737): no interface has it, so nothing is exposed and binding fails.
    document["status"] = {"listen": "192.0.2.1:8787"}
    device = start_device(document)

    warned = device.stderr.wait_line(lambda line: "beyond loopback" in line, STEP)
    assert warned is not None, device.stderr.tail()
    assert "no auth" in warned
    assert "192.0.2.1:8787" in warned
    device.wait_for(state_is("ERROR"), what="the session running on without its status page")
    assert device.running
