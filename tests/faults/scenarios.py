"""The fault scenarios, each measured the same way for the pytest tier and ``scripts/faults``.

A scenario takes a fresh :class:`FaultRig`, brings the device to CONNECTED with media
arriving at the lab, injects one fault, clears it, and returns a :class:`FaultResult`:
how long the device took to say ERROR, how long to be CONNECTED again once the fault
was gone, how many TCP connection attempts reached the server meanwhile, and whether
the process stayed alive with a sane memory footprint. Tests assert on the result;
the matrix prints it.
"""

from __future__ import annotations

import os
import signal
import statistics
import subprocess
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from tests.faults.rig import CAMERA_720P, GATE_PORT, FaultRig
from tests.helpers import STEP, Event, state_is

#: Video at the lab must keep at least this rate through loss and a narrow uplink.
MIN_FPS = 15.0
#: The rate controller's time to adapt: "during" figures count from this far into a fault.
ADAPT_SECONDS = 10.0
#: The lab's fps is a count over its last 5 s (alo_edge.lab.ingest.FPS_WINDOW_SECONDS).
LAB_FPS_WINDOW = 5.0
#: How long after the fault clears the device may take to ask for its full bitrate again.
RESTORE_LIMIT = 40.0
#: Seconds after the device started when its camera's working set has filled.
CAMERA_WARM_UP = 5.0
#: How long after the fault clears a device may take to be CONNECTED before we give up.
RECOVERY_LIMIT = 60.0
#: "RSS sane": growth over one scenario that would mean a leak, not a working set.
RSS_GROWTH_LIMIT_KIB = 20 * 1024
FPS_SAMPLE_INTERVAL = 2.0


@dataclass
class FaultResult:
    """What one scenario measured; None where a quantity does not apply."""

    fault: str
    duration_s: float
    detect_s: float | None = None  # fault start -> first ERROR (None: never left CONNECTED)
    recover_s: float | None = None  # fault cleared -> CONNECTED (None: never left CONNECTED)
    #: fault cleared -> the start of the attempt that connected (0: one was under way); the
    #: backoff's jittered wait, which a fault invisible to the host (a blackhole) must sit out
    retry_wait_s: float | None = None
    media_back_s: float | None = None  # fault cleared -> new video frames decoded at the lab
    syns_during: int = 0  # TCP connection attempts that reached the server during the fault
    requests_during: int | None = None  # HTTP requests the gate saw (HTTP faults only)
    min_fps: float | None = None  # the lowest lab fps sampled during the fault
    # Once adapted (fps windows wholly after ADAPT_SECONDS into the fault):
    median_fps: float | None = None  # the median lab fps
    adapted_min_fps: float | None = None  # the lowest lab fps
    p95_latency_ms: float | None = None  # capture-to-decode, pictures decoded since then
    min_target_kbit: float | None = None  # the lowest target the device's controller set
    restored_s: float | None = None  # fault cleared -> the target back at video.bitrate
    media_path: str | None = None  # what carried the media: "UDP", "TURN/TCP" (TURN rows)
    alive: bool = True
    rss_start_kib: int = 0
    rss_end_kib: int = 0
    messages: list[str] = field(default_factory=list)

    @property
    def rss_sane(self) -> bool:
        return self.rss_end_kib - self.rss_start_kib < RSS_GROWTH_LIMIT_KIB

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["rss_sane"] = self.rss_sane
        return data


def assert_sane(result: FaultResult) -> None:
    """The device process survived the fault and its memory did not run away."""
    assert result.alive, result
    assert result.rss_sane, result


def assert_noticed_and_healed(result: FaultResult, *, recover_within: float) -> None:
    """ERROR within 10 s of the fault, CONNECTED within ``recover_within`` of it clearing."""
    assert result.detect_s is not None, result
    assert result.detect_s <= 10.0, result
    assert result.recover_s is not None, result
    assert result.recover_s <= recover_within, result
    assert_sane(result)


def connect(rig: FaultRig, **device: Any) -> None:
    """Lab up, device up, CONNECTED, and video and audio arriving at the lab."""
    if rig.lab is None:
        rig.start_lab()
    proc = rig.start_device(**device)
    proc.wait_for(state_is("CONNECTED"), timeout=2 * STEP, what="the first CONNECTED")
    rig.wait_for_channel(lambda r: r["connected"] and r["fps"] >= MIN_FPS, 2 * STEP)


def _events_since(rig: FaultRig, since: float) -> list[Event]:
    assert rig.device is not None
    return [e for e in rig.device.events.snapshot() if e["ts"] >= since]


def _first(events: list[Event], state: str) -> Event | None:
    return next((e for e in events if state_is(state)(e)), None)


def _last_state(rig: FaultRig) -> str | None:
    assert rig.device is not None
    changes = [e for e in rig.device.events.snapshot() if e.get("event") == "onConnectionChange"]
    return str(changes[-1]["detail"]["state"]) if changes else None


def _media_flows(rig: FaultRig, timeout: float = STEP) -> None:
    """Return once the lab decodes fresh video (a second's worth) on a connected channel."""
    before = rig.wait_for_channel(lambda r: r["connected"], timeout)
    rig.wait_for_channel(lambda r: r["framesDecoded"] >= before["framesDecoded"] + 30, timeout)


def run_fault(
    rig: FaultRig,
    name: str,
    inject: Callable[[], None],
    clear: Callable[[], None],
    duration: float,
    *,
    sample_fps: bool = False,
) -> FaultResult:
    """Inject, hold for ``duration`` seconds (sampling the lab's fps), clear, measure.

    With ``sample_fps`` the lab's fps and the device's target bitrate are sampled
    every 2 s; the figures "once adapted" count from :data:`ADAPT_SECONDS` into the
    fault, and after it clears the time until the target is back at ``video.bitrate``.
    """
    assert rig.device is not None
    result = FaultResult(fault=name, duration_s=duration)
    result.rss_start_kib = rig.device_health()["rss_kib"]
    syns_before = rig.net.syn_count()
    started = time.time()
    inject()
    samples: list[tuple[float, float]] = []  # (seconds into the fault, lab fps)
    targets: list[float] = []
    while (left := started + duration - time.time()) > 0:
        time.sleep(min(FPS_SAMPLE_INTERVAL, left))
        if sample_fps:
            report = rig.channel() or {}
            samples.append((time.time() - started, float(report.get("fps", 0.0))))
            target = _target_bitrate(rig)
            if target is not None:
                targets.append(target)
    if sample_fps:
        adapted_at = started + ADAPT_SECONDS
        latency = (rig.channel(latency_since=adapted_at) or {}).get("latencyMs")
        result.p95_latency_ms = None if latency is None else latency["p95"]
    result.syns_during = rig.net.syn_count() - syns_before
    cleared = time.time()
    clear()
    # Healed means video decoded at the lab again; a fault shorter than the liveness
    # timeout may only be noticed (ERROR) after it cleared, so look at events after this.
    _media_flows(rig, RECOVERY_LIMIT)
    result.media_back_s = round(time.time() - cleared, 2)
    events = _events_since(rig, started)
    error = _first(events, "ERROR")
    if error is not None:
        result.detect_s = round(error["ts"] - started, 2)
        result.messages.append(str(error["detail"].get("message", "")))
        last_error = [e for e in events if state_is("ERROR")(e)][-1]
        back = _first([e for e in events if e["ts"] >= last_error["ts"]], "CONNECTED")
        assert back is not None, "video flows but the device never said CONNECTED"
        result.recover_s = round(max(back["ts"] - cleared, 0.0), 2)
        attempts = [e for e in events if state_is("ACQUIRING_ACCESS")(e) and e["ts"] < back["ts"]]
        if attempts:
            result.retry_wait_s = round(max(attempts[-1]["ts"] - cleared, 0.0), 2)
    elif _last_state(rig) != "CONNECTED":
        raise AssertionError(f"video flows but the device is {_last_state(rig)}")
    if samples:
        result.min_fps = min(fps for _, fps in samples)
        adapted = [fps for at, fps in samples if at - LAB_FPS_WINDOW >= ADAPT_SECONDS]
        if adapted:
            result.median_fps = round(statistics.median(adapted), 1)
            result.adapted_min_fps = min(adapted)
    if targets:
        result.min_target_kbit = round(min(targets) / 1000)
        if min(targets) < _max_bitrate(rig):
            result.restored_s = _wait_restored(rig, cleared)
    result.alive = rig.device.running
    result.rss_end_kib = rig.device_health()["rss_kib"]
    return result


def _video_rate(rig: FaultRig) -> dict[str, Any] | None:
    try:
        status = rig.device_status()
    except (OSError, AssertionError, TimeoutError):
        return None  # the status endpoint is not part of what is measured
    rate: dict[str, Any] | None = status.get("rateControl", {}).get("video")
    return rate


def _target_bitrate(rig: FaultRig) -> float | None:
    rate = _video_rate(rig)
    return None if rate is None else float(rate["targetBitrate"])


def _max_bitrate(rig: FaultRig) -> float:
    rate = _video_rate(rig)
    return float("inf") if rate is None else float(rate["maxBitrate"])


def _wait_restored(rig: FaultRig, cleared: float) -> float | None:
    """Seconds from ``cleared`` until the device's target is back at its maximum."""
    while time.time() - cleared < RESTORE_LIMIT:
        rate = _video_rate(rig)
        if rate is not None and rate["targetBitrate"] >= rate["maxBitrate"]:
            return round(time.time() - cleared, 1)
        time.sleep(0.5)
    return None


# --- network faults ----------------------------------------------------------------------


def blackhole(rig: FaultRig, seconds: float = 30.0) -> FaultResult:
    connect(rig)
    return run_fault(
        rig, f"blackhole {seconds:g} s", rig.net.blackhole, rig.net.clear_drops, seconds
    )


def loss(rig: FaultRig, percent: int = 10, seconds: float = 30.0) -> FaultResult:
    connect(rig)
    return run_fault(
        rig,
        f"{percent} % loss {seconds:g} s",
        lambda: rig.net.loss(percent),
        rig.net.clear_drops,
        seconds,
        sample_fps=True,
    )


def bandwidth(
    rig: FaultRig, kbit: int = 500, seconds: float = 30.0, *, fixed: bool = False
) -> FaultResult:
    """A narrow uplink; ``fixed``: the camera keeps its bitrate (min_bitrate = bitrate),
    as before the rate controller: the side-by-side baseline."""
    video = {**CAMERA_720P, "min_bitrate": CAMERA_720P["bitrate"]} if fixed else None
    connect(rig, video=video)
    return run_fault(
        rig,
        f"uplink {kbit} kbit/s {seconds:g} s" + (", bitrate fixed" if fixed else ""),
        lambda: rig.net.limit_uplink(kbit),
        rig.net.clear_uplink_limit,
        seconds,
        sample_fps=True,
    )


def lossy_uplink(rig: FaultRig, kbit: int, percent: int, seconds: float = 30.0) -> FaultResult:
    """A narrow uplink that also loses packets at random (a distant Wi-Fi access point)."""
    connect(rig)

    def inject() -> None:
        rig.net.limit_uplink(kbit)
        rig.net.loss(percent)

    def clear() -> None:
        rig.net.clear_drops()
        rig.net.clear_uplink_limit()

    name = f"uplink {kbit} kbit/s + {percent} % loss {seconds:g} s"
    return run_fault(rig, name, inject, clear, seconds, sample_fps=True)


def delay(rig: FaultRig, delay_ms: float, jitter_ms: float, seconds: float = 30.0) -> FaultResult:
    """Every packet, each way, held ``delay_ms +- jitter_ms`` (see tests.faults.delay_link)."""
    connect(rig)
    return run_fault(
        rig,
        f"delay {delay_ms:g} +- {jitter_ms:g} ms {seconds:g} s",
        lambda: rig.start_delay(delay_ms, jitter_ms),
        rig.stop_delay,
        seconds,
        sample_fps=True,
    )


def link_down(rig: FaultRig, seconds: float) -> FaultResult:
    connect(rig)
    return run_fault(rig, f"link down {seconds:g} s", rig.net.link_down, rig.net.link_up, seconds)


# --- server faults -----------------------------------------------------------------------


def server_killed(rig: FaultRig, seconds: float = 5.0) -> FaultResult:
    """``kill -9`` the lab, restart it (same state dir, same port) ``seconds`` later."""
    connect(rig)

    def kill() -> None:
        assert rig.lab is not None
        os.kill(rig.lab.pid, signal.SIGKILL)
        rig.lab.wait(STEP)

    return run_fault(
        rig, f"server kill -9, restart after {seconds:g} s", kill, rig.start_lab, seconds
    )


def server_frozen(rig: FaultRig, seconds: float = 20.0) -> FaultResult:
    """SIGSTOP the lab, SIGCONT it ``seconds`` later."""
    connect(rig)
    return run_fault(
        rig,
        f"server SIGSTOP {seconds:g} s",
        lambda: rig.signal_lab(signal.SIGSTOP),
        lambda: rig.signal_lab(signal.SIGCONT),
        seconds,
    )


# --- HTTP faults (a gate in front of the lab) --------------------------------------------


def _warm_rss(rig: FaultRig, started: float) -> int:
    """The device's RSS once its camera and encoder are warm (a few seconds after start).

    The 720p camera opens before the first attempt and its encoder's buffers fill over
    the first seconds: growth from then on would be no leak, only a working set.
    """
    time.sleep(max(0.0, started + CAMERA_WARM_UP - time.time()))
    return rig.device_health()["rss_kib"]


def _gate_url(rig: FaultRig, scheme: str = "http") -> str:
    return f"{scheme}://{rig.net.lab_address}:{GATE_PORT}/v1/video/access"


def service_unavailable(
    rig: FaultRig, retry_after: int = 7, failures: int = 2, reconnect: dict[str, Any] | None = None
) -> tuple[FaultResult, list[dict[str, Any]]]:
    """The access endpoint answers 503 + Retry-After for ``failures`` requests, then passes.

    Returns the result and every request the gate saw (with its time and status).
    """
    rig.start_lab()
    gate = rig.start_gate("--fail", "503", "--retry-after", str(retry_after))
    result = FaultResult(fault=f"HTTP 503 Retry-After {retry_after} s", duration_s=0.0)
    started = time.time()
    device = rig.start_device(access_url=_gate_url(rig), reconnect=reconnect)
    error = device.wait_for(state_is("ERROR"), what="ERROR for the 503")
    result.detect_s = round(error["ts"] - started, 2)
    result.messages.append(str(error["detail"].get("message", "")))
    result.rss_start_kib = _warm_rss(rig, started)
    deadline = time.monotonic() + failures * (retry_after + STEP)
    while len(rig.gate_requests()) < failures:
        assert time.monotonic() < deadline, rig.gate_requests()
        time.sleep(0.1)
    gate.signal(signal.SIGUSR1)
    gate.wait_for(lambda e: e.get("event") == "opened", what="the gate opened")
    cleared = time.time()
    result.duration_s = round(cleared - started, 2)
    result.requests_during = len(rig.gate_requests())
    back = device.wait_for(
        lambda e: state_is("CONNECTED")(e) and e["ts"] >= cleared,
        timeout=retry_after + 2 * STEP,
        what="CONNECTED once the gate passes",
    )
    result.recover_s = round(back["ts"] - cleared, 2)
    _media_flows(rig)
    result.alive = device.running
    result.rss_end_kib = rig.device_health()["rss_kib"]
    return result, rig.gate_requests()


def rotated_token(
    rig: FaultRig, bad_token: str, attempts: int = 3, reconnect: dict[str, Any] | None = None
) -> tuple[FaultResult, list[dict[str, Any]], float]:
    """The device starts with a token the lab refuses; after ``attempts`` 401s it is replaced.

    Returns the result, the gate's requests and the wall time of the replacement.
    """
    rig.start_lab()
    rig.start_gate()
    rig.write_token(bad_token)
    result = FaultResult(fault="HTTP 401, then a rotated token", duration_s=0.0)
    started = time.time()
    device = rig.start_device(access_url=_gate_url(rig), reconnect=reconnect)
    error = device.wait_for(state_is("ERROR"), what="ERROR for the 401")
    result.detect_s = round(error["ts"] - started, 2)
    result.messages.append(str(error["detail"].get("message", "")))
    result.rss_start_kib = _warm_rss(rig, started)
    cap = float((reconnect or {}).get("max_delay", 30.0))
    deadline = time.monotonic() + attempts * (cap + STEP)
    while len(rig.gate_requests()) < attempts:
        assert time.monotonic() < deadline, rig.gate_requests()
        time.sleep(0.1)
    rig.write_token(rig.mint())
    replaced = time.time()
    result.duration_s = round(replaced - started, 2)
    result.requests_during = len(rig.gate_requests())
    back = device.wait_for(
        lambda e: state_is("CONNECTED")(e) and e["ts"] >= replaced,
        timeout=cap + 2 * STEP,
        what="CONNECTED with the rotated token",
    )
    result.recover_s = round(back["ts"] - replaced, 2)
    _media_flows(rig)
    result.alive = device.running
    result.rss_end_kib = rig.device_health()["rss_kib"]
    return result, rig.gate_requests(), replaced


def never_connects(
    rig: FaultRig, name: str, access_url: str, seconds: float, reconnect: dict[str, Any] | None
) -> FaultResult:
    """A device pointed at something it must refuse: it reports ERROR and keeps retrying."""
    if rig.lab is None:
        rig.start_lab()
    syns_before = rig.net.syn_count()
    result = FaultResult(fault=name, duration_s=seconds)
    started = time.time()
    device = rig.start_device(access_url=access_url, reconnect=reconnect)
    error = device.wait_for(state_is("ERROR"), what="ERROR")
    result.detect_s = round(error["ts"] - started, 2)
    result.rss_start_kib = _warm_rss(rig, started)
    while (left := started + seconds - time.time()) > 0:
        time.sleep(min(1.0, left))
    for event in _events_since(rig, started):
        message = event["detail"].get("message")
        if state_is("ERROR")(event) and message and message not in result.messages:
            result.messages.append(str(message))
    assert _first(_events_since(rig, started), "CONNECTED") is None, "it connected"
    result.syns_during = rig.net.syn_count() - syns_before
    if rig.gate is not None:
        result.requests_during = len(rig.gate_requests())
    result.alive = device.running
    result.rss_end_kib = rig.device_health()["rss_kib"]
    return result


def unresolvable_host(rig: FaultRig, seconds: float = 10.0) -> FaultResult:
    """``alo.access_url`` names a host no resolver knows (``.invalid``, RFC 6761)."""
    return never_connects(
        rig,
        "unresolvable host name",
        "http://alo-lab.invalid:8080/v1/video/access",
        seconds,
        {"max_delay": 2},
    )


def self_signed_certificate(workdir: Path, address: str) -> tuple[Path, Path]:
    """A throwaway self-signed certificate for ``address`` (cert, key), made with openssl."""
    cert, key = workdir / "untrusted.crt", workdir / "untrusted.key"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
            "-subj", "/CN=alo-lab-untrusted", "-addext", f"subjectAltName=IP:{address}",
            "-keyout", str(key), "-out", str(cert),
        ],
        check=True,
        capture_output=True,
        timeout=STEP,
    )  # fmt: skip
    return cert, key


def untrusted_tls(rig: FaultRig, seconds: float = 10.0) -> FaultResult:
    """The access endpoint speaks TLS with a certificate nobody signed."""
    rig.start_lab()
    cert, key = self_signed_certificate(rig.workdir, rig.net.lab_address)
    rig.start_gate("--tls-cert", str(cert), "--tls-key", str(key))
    return never_connects(
        rig, "TLS certificate not trusted", _gate_url(rig, "https"), seconds, {"max_delay": 2}
    )
