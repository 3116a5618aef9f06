"""Security review as tests: the token never leaks, the lab is closed by default, exposed
secret files are warned about, and TLS is verified (the untrusted-certificate case runs
in the fault tier, tests/faults/test_server.py)."""

from __future__ import annotations

import logging
import signal
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from alo_edge.cli import DEFAULT_LAB, _parser
from alo_edge.lab import LabSettings, mint_token
from alo_edge.secret_files import warn_if_exposed
from tests.helpers import (
    STEP,
    LabProcess,
    Proc,
    device_config,
    http_json,
    run_cli,
    state_is,
    write_toml,
)

pytestmark = pytest.mark.integration

USER = "door-1"
CHANNEL = "front-door"
FORGED_SECRET = "a-secret-this-lab-never-had-0123456789abcdef"


def process_identity(pid: int) -> str:
    """A process's argv and environment, as any local user could list them."""
    parts = []
    for name in ("cmdline", "environ"):
        parts.append(Path(f"/proc/{pid}/{name}").read_bytes().replace(b"\0", b" ").decode())
    return "\n".join(parts)


def test_the_token_is_never_logged_printed_or_passed_to_a_process(
    lab: LabProcess, start_device: Callable[..., Proc], tmp_path: Path
) -> None:
    token = lab.mint(USER)
    forged = mint_token(FORGED_SECRET, USER, 60, time.time())
    token_file = tmp_path / "token"
    token_file.write_text(token + "\n", encoding="utf-8")
    token_file.chmod(0o644)  # exposed on purpose: the device must say so, naming the fix
    document = device_config(
        user_id=USER,
        channel=CHANNEL,
        token_file=token_file,
        access_url=f"{lab.url}/v1/video/access",
        reconnect={"max_delay": 2},
    )
    document["log"] = {"level": "debug"}  # the most a device ever says
    device = start_device(document)

    device.wait_for(state_is("CONNECTED"), what="CONNECTED")
    identity = process_identity(device.pid)
    lab.kick(CHANNEL)  # a reconnect: access, WHIP POST and DELETE all go by again
    device.wait_for(state_is("ERROR"), what="ERROR after the kick")
    device.wait_for(state_is("CONNECTED"), what="CONNECTED again")
    token_file.write_text(forged + "\n", encoding="utf-8")
    lab.kick(CHANNEL)
    refused = device.wait_for(
        lambda e: state_is("ERROR")(e) and "HTTP 401" in e["detail"].get("message", ""),
        timeout=2 * STEP,
        what="ERROR for the refused token",
    )
    device.signal(signal.SIGTERM)
    assert device.wait(STEP) == 0
    config_out = run_cli("config", "-c", str(tmp_path / "device.toml"))

    assert lab.proc is not None
    captured = {
        "device stdout": "\n".join(device.events.lines),
        "device stderr": "\n".join(device.stderr.lines),
        "lab stdout": "\n".join(lab.proc.events.lines),
        "lab stderr": "\n".join(lab.proc.stderr.lines),
        "device argv+environ": identity,
        "alo-edge config": config_out.stdout + config_out.stderr,
    }
    assert "refused the token" in refused["detail"]["message"]
    assert any("DEBUG" in line for line in device.stderr.lines), "debug logging was not on"
    for where, text in captured.items():
        for secret in (token, forged):
            assert secret not in text, f"the token appears in {where}"
            # Nor its signature alone (the part that makes it a credential).
            assert secret.rsplit(".", 1)[-1] not in text, f"a token signature is in {where}"
    warning = next(line for line in device.stderr.lines if "readable by other users" in line)
    assert str(token_file) in warning
    assert f"chmod 600 {token_file}" in warning


def test_alo_edge_config_masks_the_secrets_a_url_carries(tmp_path: Path) -> None:
    token_file = tmp_path / "token"
    token_file.write_text("opaque-token\n", encoding="utf-8")
    token_file.chmod(0o600)
    document = device_config(
        user_id=USER,
        channel=CHANNEL,
        token_file=token_file,
        access_url="https://alo.example.net/v1/video/access?api_key=hunter2#sig=s3cret",
    )
    config = write_toml(tmp_path / "device.toml", document)
    shown = run_cli("config", "-c", str(config))
    assert shown.returncode == 0, shown.stderr
    assert "hunter2" not in shown.stdout + shown.stderr
    assert "s3cret" not in shown.stdout + shown.stderr
    assert 'access_url = "https://alo.example.net/v1/video/access?api_key=***#***"' in shown.stdout


def test_the_lab_binds_loopback_by_default_and_refuses_without_a_valid_token(
    lab: LabProcess,
) -> None:
    assert _parser().parse_args(["lab"]).listen == DEFAULT_LAB
    assert DEFAULT_LAB.startswith("127.0.0.1:")
    assert LabSettings(api_key="k", secret="s" * 32).host == "127.0.0.1"

    forged = mint_token(FORGED_SECRET, USER, 60, time.time())
    for token in (None, "not-a-token", forged):
        for method, path in (
            ("POST", "/v1/video/access"),
            ("POST", f"/whip/{CHANNEL}"),
            ("DELETE", f"/whip/{CHANNEL}/0123"),
            ("POST", "/v1/auth"),
            ("POST", f"/api/channels/{CHANNEL}/kick"),
        ):
            status, body = http_json(method, f"{lab.url}{path}", token=token)
            assert status == 401, (method, path, token is None, body)


def test_a_token_file_readable_by_others_is_warned_about(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "token"
    path.write_text("secret\n", encoding="utf-8")
    caplog.set_level(logging.WARNING)
    for mode, warned in ((0o600, False), (0o400, False), (0o640, True), (0o604, True)):
        path.chmod(mode)
        caplog.clear()
        assert warn_if_exposed(path, "token file") is warned, oct(mode)
        assert (f"chmod 600 {path}" in caplog.text) is warned, caplog.text
    path.chmod(0o640)
    assert not warn_if_exposed(path, "config file", group_too=False)
    assert "secret" not in caplog.text.replace("secret_files", "")


def test_tls_is_verified_by_default() -> None:
    """aiohttp verifies certificates unless told not to; nothing in alo_edge tells it."""
    root = Path(__file__).resolve().parents[2] / "alo_edge"
    for source in root.rglob("*.py"):
        text = source.read_text(encoding="utf-8")
        for weakening in ("ssl=False", "verify_ssl=False", "CERT_NONE", "check_hostname = False"):
            assert weakening not in text, f"{source}: {weakening}"
    # tests/faults/test_server.py proves it against a live server with an untrusted certificate.
