"""`alo-edge check`, the pre-flight, run as an installer runs it: each bad input, its line,
its exit code.

The server is a real `alo-edge lab` (and, for TLS, the fault tier's gate in front of
it with a certificate made here); the microphone and speaker are ALSA ``type file``
devices; the Pi camera is the picamera2 stand-in. Nothing is published: the lab's
channel list stays empty through every check.
"""

from __future__ import annotations

import dataclasses
import datetime
import ipaddress
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from alo_edge.config import AloConfig
from alo_edge.lab import mint_token
from tests.helpers import (
    STEP,
    LabProcess,
    Processes,
    alo_edge_command,
    free_port,
    write_toml,
)
from tests.media_support import SENSORS, tone, write_asoundrc

pytestmark = pytest.mark.integration

USER = "door-42"
CHANNEL = "front-door"
DAYS = 3 * 24 * 60.0  # minutes: a token no check warns about


class Checker:
    """Writes a device config and runs `alo-edge check -c` on it in a private HOME."""

    def __init__(self, tmp_path: Path, lab: LabProcess) -> None:
        self.tmp_path = tmp_path
        self.lab = lab
        self.home = tmp_path / "home"
        self.home.mkdir()
        self.token_file = tmp_path / "token"
        self.env = {**os.environ, "HOME": str(self.home)}
        self.env.pop("CREDENTIALS_DIRECTORY", None)

    def token(self, value: str) -> None:
        self.token_file.write_text(value + "\n", encoding="utf-8")
        self.token_file.chmod(0o600)

    def document(self, **sections: dict[str, Any]) -> dict[str, dict[str, Any]]:
        alo = {
            "channel": CHANNEL,
            "token_file": str(self.token_file),
            "access_url": f"{self.lab.url}/v1/video/access",
            **sections.pop("alo", {}),
        }
        return {
            "device": {"user_id": USER},
            "alo": {key: value for key, value in alo.items() if value is not None},
            "network": {"host_addresses": ["127.0.0.1"]},
            "video": {"source": "synthetic", "width": 320, "height": 240},
            "audio": {"source": "synthetic"},
            "status": {"listen": ""},
            **sections,
        }

    def run(self, *args: str, **sections: dict[str, Any]) -> subprocess.CompletedProcess[str]:
        config = write_toml(self.tmp_path / "device.toml", self.document(**sections))
        return self.run_on(config, *args)

    def run_on(self, config: Path, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*alo_edge_command(), "check", "-c", str(config), *args],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=4 * STEP,
            check=False,
            env=self.env,
        )


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabProcess]:
    """One lab for the module: a check changes nothing in it (the fixture below proves it)."""
    processes = Processes()
    try:
        server = LabProcess(processes, tmp_path_factory.mktemp("lab") / "state")
        server.start()
        yield server
    finally:
        processes.cleanup()


@pytest.fixture
def checker(tmp_path: Path, lab: LabProcess) -> Iterator[Checker]:
    made = Checker(tmp_path, lab)
    yield made
    assert lab.channels() == {}, "a check published something"


def line(result: subprocess.CompletedProcess[str], start: str) -> str:
    """The one stdout line starting with ``start``."""
    found = [text for text in result.stdout.splitlines() if text.startswith(start)]
    assert len(found) == 1, f"no single line {start!r} in:\n{result.stdout}\n{result.stderr}"
    return found[0]


# --- the whole device ------------------------------------------------------------------------


def test_a_device_that_would_work_passes_with_one_line_per_check(checker: Checker) -> None:
    checker.token(checker.lab.mint(USER, ttl_minutes=DAYS))
    speaker = checker.home / "speaker.raw"
    write_asoundrc(checker.home, capture={}, playback={"door_speaker": speaker})
    result = checker.run(
        audio={"source": "synthetic", "playback": True, "playback_device": "door_speaker"},
        gpio={"enabled": True, "pin_factory": "mock", "status_led": 17, "button": 27},
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stderr == ""
    lab = checker.lab.url
    assert line(result, "ok   config:").endswith("device.toml is valid")
    assert line(result, "ok   token: a JWT for user door-42 from ")
    assert line(result, "ok   access endpoint:") == (
        f"ok   access endpoint: {lab}/v1/video/access grants channel {CHANNEL} to user {USER}: "
        f"whip at {lab}/whip/{CHANNEL}"
    )
    assert line(result, "ok   WHIP endpoint:") == (
        f"ok   WHIP endpoint: {lab}/whip/{CHANNEL} answers an authenticated OPTIONS with HTTP "
        "204 (nothing published; a WHIP server checks the token when publishing)"
    )
    assert line(result, "ok   clock: within ")
    assert line(result, "ok   camera: synthetic-video delivered a 320x240 picture after ")
    assert line(result, "ok   microphone: synthetic-audio: 0.5 s of audio, peak -12 dBFS")
    assert line(result, "ok   speaker:") == (
        "ok   speaker: ALSA 'door_speaker' opens for playback (48000 Hz)"
    )
    assert line(result, "ok   gpio: ok (every pin claimed and released)")

    as_json = checker.run_on(checker.tmp_path / "device.toml", "--json")
    document = json.loads(as_json.stdout)
    assert (document["ok"], document["exitCode"], as_json.returncode) == (True, 0, 0)
    checks = [finding["check"] for finding in document["findings"]]
    assert checks[:5] == ["config", "token", "access endpoint", "clock", "WHIP endpoint"]
    assert {"camera", "microphone", "speaker", "gpio"} <= set(checks)


def test_a_broken_config_is_one_line_and_78(checker: Checker, tmp_path: Path) -> None:
    config = tmp_path / "broken.toml"
    config.write_text("[alo]\nchanel = 'x'\n", encoding="utf-8")
    result = checker.run_on(config)
    assert result.returncode == 78
    valid = ", ".join(field.name for field in dataclasses.fields(AloConfig))
    assert result.stdout.splitlines() == [
        f"FAIL config: alo.chanel: unknown key (did you mean 'channel'?); valid: {valid}"
    ]
    assert result.stderr.startswith("alo-edge: configuration error: alo.chanel: unknown key")
    as_json = checker.run_on(config, "--json")
    assert json.loads(as_json.stdout)["exitCode"] == 78
    assert as_json.returncode == 78


def test_only_and_skip_take_check_names(checker: Checker) -> None:
    checker.token(checker.lab.mint(USER, ttl_minutes=DAYS))
    result = checker.run("--only", "token")
    assert result.returncode == 0
    assert [text.split(":")[0] for text in result.stdout.splitlines()] == [
        "ok   config",
        "ok   token",
    ]
    wrong = checker.run("--skip", "camra")
    assert wrong.returncode == 2
    assert "take a comma list of: token, endpoint, camera" in wrong.stderr


# --- the token and the server ----------------------------------------------------------------


def test_a_missing_token_file_fails_and_the_server_is_only_reached(checker: Checker) -> None:
    result = checker.run("--only", "token,endpoint")
    assert result.returncode == 1
    assert line(result, "FAIL token:") == (
        f"FAIL token: token file {checker.token_file} does not exist; fix: put the device's "
        f"token in {checker.token_file} (mode 0600)"
    )
    assert line(result, "skip access endpoint:") == (
        f"skip access endpoint: {checker.lab.url}/v1/video/access answers (HTTP 405); no "
        "usable token to try (see token)"
    )
    assert result.stderr == (
        f"alo-edge: check failed: token file {checker.token_file} does not exist\n"
    )


def test_a_token_that_is_not_a_jwt_fails(checker: Checker) -> None:
    checker.token("not-a-jwt-at-all-21ch")
    result = checker.run("--only", "token,endpoint")
    assert result.returncode == 1
    assert line(result, "FAIL token: not a JWT (21 characters in ")
    # Not expired, so the device would send it, and so does the check: the lab refuses it.
    assert line(result, "FAIL access endpoint:") == (
        f"FAIL access endpoint: {checker.lab.url}/v1/video/access refused the token (HTTP 401): "
        "malformed token: Not enough segments; fix: the token is not valid for this server or "
        "user: put a fresh one in place"
    )


def test_an_expired_token_fails_and_is_never_sent(checker: Checker) -> None:
    checker.token(checker.lab.mint(USER, ttl_minutes=1, now=time.time() - 3 * 3600))
    result = checker.run("--only", "token,endpoint")
    assert result.returncode == 1
    assert line(result, "FAIL token: expired at ").endswith(
        f"(2 h 59 min ago), a JWT for user {USER} from {checker.token_file}; fix: put the "
        f"device's token in {checker.token_file} (mode 0600)"
    )
    assert line(result, "skip access endpoint:")


def test_a_token_expiring_within_a_day_warns_and_passes(checker: Checker) -> None:
    checker.token(checker.lab.mint(USER, ttl_minutes=60))
    result = checker.run("--only", "token,endpoint")
    assert result.returncode == 0, result.stdout
    assert line(result, "WARN token: expires at ").endswith(
        f"(in 59 min), a JWT for user {USER} from {checker.token_file}; fix: before then, put "
        f"the device's token in {checker.token_file} (mode 0600)"
    )
    assert line(result, "ok   access endpoint:")


def test_a_token_the_server_did_not_issue_is_refused(checker: Checker, tmp_path: Path) -> None:
    checker.token(
        mint_token("another lab's secret, 32 bytes long", USER, DAYS, __import__("time").time())
    )
    result = checker.run("--only", "endpoint")
    assert result.returncode == 1
    assert line(result, "FAIL access endpoint:") == (
        f"FAIL access endpoint: {checker.lab.url}/v1/video/access refused the token (HTTP 401): "
        "bad token signature; fix: the token is not valid for this server or user: "
        "put a fresh one in place"
    )


def test_a_wrong_access_url_and_a_closed_port_fail(checker: Checker) -> None:
    checker.token(checker.lab.mint(USER, ttl_minutes=DAYS))
    wrong = f"{checker.lab.url}/v1/video/acces"
    result = checker.run("--only", "endpoint", alo={"access_url": wrong})
    assert result.returncode == 1
    assert line(result, "FAIL access endpoint:") == (
        f"FAIL access endpoint: {wrong} answered HTTP 404; fix: check alo.access_url"
    )
    closed = f"http://127.0.0.1:{free_port()}/v1/video/access"
    result = checker.run("--only", "endpoint", alo={"access_url": closed})
    assert result.returncode == 1
    assert line(result, "FAIL access endpoint:") == (
        f"FAIL access endpoint: {closed}: TCP: connection refused; fix: is the server up on "
        "that port, and does a firewall let the device through?"
    )


def test_a_whip_endpoint_is_asked_an_authenticated_options(checker: Checker) -> None:
    whip = f"{checker.lab.url}/whip/{CHANNEL}"
    checker.token(checker.lab.mint(USER, ttl_minutes=DAYS))
    result = checker.run("--only", "endpoint", alo={"access_url": None, "url": whip})
    assert result.returncode == 0, result.stdout
    assert line(result, "ok   WHIP endpoint:").startswith(
        f"ok   WHIP endpoint: {whip} answers an authenticated OPTIONS with HTTP 204"
    )
    assert line(result, "ok   clock: within ")
    checker.token("a-static-bearer")
    result = checker.run("--only", "token,endpoint", alo={"access_url": None, "url": whip})
    assert result.returncode == 1
    assert line(result, "WARN token: not a JWT")
    assert line(result, "FAIL WHIP endpoint:").startswith(
        f"FAIL WHIP endpoint: {whip} refused the token (HTTP 401)"
    )


# --- TLS ---------------------------------------------------------------------------------------


def certificate(workdir: Path, *, valid_from: datetime.datetime) -> tuple[Path, Path, Path]:
    """A CA (valid now) and a 127.0.0.1 certificate it signs, valid from ``valid_from``:
    ``(ca.pem, cert.pem, key.pem)``."""
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "alo-edge test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(valid_from)
        .not_valid_after(valid_from + datetime.timedelta(days=30))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    paths = workdir / "ca.pem", workdir / "cert.pem", workdir / "key.pem"
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return paths


def start_gate(procs: Processes, lab: LabProcess, cert: Path, key: Path) -> str:
    """The fault tier's HTTPS gate in front of the lab, on loopback; its https URL."""
    port = free_port()
    gate = procs.start(
        [
            sys.executable,
            "-m",
            "tests.faults.gate",
            "--listen",
            f"127.0.0.1:{port}",
            "--upstream",
            lab.url,
            "--tls-cert",
            str(cert),
            "--tls-key",
            str(key),
        ],
        name="gate",
    )
    gate.wait_for(lambda e: e.get("event") == "listening", what="the gate listening")
    return f"https://127.0.0.1:{port}"


def test_tls_trusted_untrusted_and_not_yet_valid(
    checker: Checker, procs: Processes, tmp_path: Path
) -> None:
    checker.token(checker.lab.mint(USER, ttl_minutes=DAYS))
    now = datetime.datetime.now(datetime.UTC)
    (tmp_path / "good").mkdir()
    ca, cert, key = certificate(tmp_path / "good", valid_from=now - datetime.timedelta(hours=1))
    good = start_gate(procs, checker.lab, cert, key)
    (tmp_path / "later").mkdir()
    later_ca, later_cert, later_key = certificate(
        tmp_path / "later", valid_from=now + datetime.timedelta(days=2)
    )
    later = start_gate(procs, checker.lab, later_cert, later_key)

    untrusted = checker.run("--only", "endpoint", alo={"access_url": f"{good}/v1/video/access"})
    assert untrusted.returncode == 1
    assert line(untrusted, "FAIL access endpoint:") == (
        f"FAIL access endpoint: {good}/v1/video/access: TLS: unable to get local issuer "
        "certificate; fix: install the CA that signed the server's certificate, or fix the "
        "server's"
    )

    checker.env["SSL_CERT_FILE"] = str(ca)
    trusted = checker.run("--only", "endpoint", alo={"access_url": f"{good}/v1/video/access"})
    assert trusted.returncode == 0, trusted.stdout
    assert line(trusted, "ok   access endpoint:")

    checker.env["SSL_CERT_FILE"] = str(later_ca)
    early = checker.run("--only", "endpoint", alo={"access_url": f"{later}/v1/video/access"})
    assert early.returncode == 1
    assert line(early, "FAIL access endpoint:") == (
        f"FAIL access endpoint: {later}/v1/video/access: TLS: certificate is not yet valid; "
        "fix: synchronize the clock (`timedatectl status`), a certificate's dates are judged "
        "by it"
    )


# --- camera, microphone, speaker ---------------------------------------------------------------


def test_media_that_would_fail_is_one_line_each_and_69(checker: Checker) -> None:
    checker.token(checker.lab.mint(USER, ttl_minutes=DAYS))
    silence = checker.home / "silence.raw"
    silence.write_bytes(bytes(2 * 48_000 * 2))
    write_asoundrc(checker.home, capture={"door_mic": silence}, playback={})
    result = checker.run(
        "--only",
        "camera,microphone,speaker",
        video={"source": "v4l2", "device": "/dev/video9"},
        audio={
            "source": "alsa",
            "device": "door_mic",
            "playback": True,
            "playback_device": "no_such_speaker",
        },
    )
    assert result.returncode == 69, result.stdout + result.stderr
    assert line(result, "FAIL camera: camera /dev/video9 cannot be opened: ")
    assert line(result, "FAIL camera:").endswith(
        "; fix: check video.device (`v4l2-ctl --list-devices`); a running alo-edge holds the "
        "device: `sudo systemctl stop alo-edge` first"
    )
    assert line(result, "FAIL microphone: alsa:door_mic: 0.5 s of audio, all digital silence;")
    assert line(result, "FAIL speaker: ALSA speaker 'no_such_speaker' cannot be opened: ")
    # alsa-lib says "Unknown PCM" on stderr by itself; the summary is the last line.
    summary = result.stderr.splitlines()[-1]
    assert summary.startswith("alo-edge: hardware missing: camera /dev/video9 cannot be ")
    assert summary.endswith("(and 2 more problems above)")


def test_a_missing_camera_library_and_a_missing_microphone_fail_with_69(checker: Checker) -> None:
    checker.token(checker.lab.mint(USER, ttl_minutes=DAYS))
    write_asoundrc(checker.home, capture={}, playback={})
    result = checker.run(
        "--only",
        "camera,microphone",
        video={"source": "picamera2"},
        audio={"source": "alsa", "device": "no_such_mic"},
    )
    assert result.returncode == 69
    assert line(result, "FAIL camera: ")
    assert "python3-picamera2" in line(result, "FAIL camera:")
    assert line(result, "FAIL microphone: ALSA microphone 'no_such_mic' cannot be opened: ")


def test_a_working_camera_and_microphone_deliver(checker: Checker) -> None:
    checker.token(checker.lab.mint(USER, ttl_minutes=DAYS))
    voice = checker.home / "voice.raw"
    voice.write_bytes(tone(440, 2.0, level=0.3))
    write_asoundrc(checker.home, capture={"door_mic": voice}, playback={})
    checker.env["PYTHONPATH"] = str(SENSORS)  # the picamera2 stand-in
    result = checker.run(
        "--only",
        "camera,microphone",
        video={"source": "picamera2", "width": 640, "height": 480},
        audio={"source": "alsa", "device": "door_mic"},
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert line(result, "ok   camera: picamera2:0 delivered an H.264 picture (")
    assert line(result, "ok   microphone: alsa:door_mic: 0.5 s of audio, peak -10 dBFS")


# --- `alo-edge config` shows the token's verdict too ------------------------------------------


def test_config_prints_the_tokens_verdict_under_the_effective_config(checker: Checker) -> None:
    checker.token(checker.lab.mint(USER, ttl_minutes=1, now=time.time() - 3600))
    config = write_toml(checker.tmp_path / "device.toml", checker.document())
    result = subprocess.run(
        [*alo_edge_command(), "config", "-c", str(config)],
        capture_output=True,
        text=True,
        timeout=STEP,
        check=False,
        env=checker.env,
    )
    assert result.returncode == 0, result.stderr
    last = result.stdout.splitlines()[-1]
    assert last.startswith("# FAIL token: expired at ")
    assert last.endswith(f"fix: put the device's token in {checker.token_file} (mode 0600)")
