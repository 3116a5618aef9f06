"""`alo-edge check`'s verdicts that need no server or device: the token, the exit code.

Every case is one bad (or good) input and the exact line a technician reads; the
clock is a number passed in, so nothing sleeps.
"""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path
from typing import Any

import pytest

from alo_edge.api import VideoUser
from alo_edge.config import Config, config_from_dict
from alo_edge.errors import ExitCode
from alo_edge.lab import mint_token
from alo_edge.preflight import Finding, Verdict, report
from alo_edge.preflight.endpoint import device_user
from alo_edge.preflight.token import UNIT_CREDENTIAL_FILE, token_findings
from tests.helpers import UNIT_FILE

NOW = 1_750_000_000.0  # 2025-06-15T15:06:40Z
SECRET = "s" * 32
HOUR = 3600.0


def config(tmp_path: Path, *, token_file: Path | None, access: bool = True) -> Config:
    alo: dict[str, Any] = {"channel": "front-door"}
    if access:
        alo["access_url"] = "https://alo.example.net/v1/video/access"
    else:
        alo["url"] = "https://whip.example.net/whip/front-door"
    if token_file is not None:
        alo["token_file"] = str(token_file)
    return config_from_dict({"device": {"user_id": "door-42"}, "alo": alo})


def token_file(tmp_path: Path, content: str) -> Path:
    path = tmp_path / "token"
    path.write_text(content, encoding="utf-8")
    return path


def jwt_for(user: str = "door-42", *, ttl_hours: float, issued: float = NOW) -> str:
    return mint_token(SECRET, user, ttl_hours * 60, issued)


def findings(tmp_path: Path, content: str | None, *, access: bool = True) -> list[Finding]:
    path = None if content is None else token_file(tmp_path, content)
    return token_findings(
        config(tmp_path, token_file=path, access=access), NOW, {}, tmp_path / "no-credential"
    )


def lines(found: list[Finding]) -> list[str]:
    return report.lines(found)


# --- the token ---------------------------------------------------------------------------


def test_no_token_configured_fails_and_names_both_ways_to_give_one(tmp_path: Path) -> None:
    found = findings(tmp_path, None)
    assert lines(found) == [
        "FAIL token: no token configured: set alo.token_file, or pass it as the systemd "
        "credential 'alo-token' (LoadCredential=alo-token:/etc/alo-edge/token), or fetch "
        "tokens with alo.token_url; fix: set "
        "alo.token_file, or put the token in /etc/alo-edge/token (mode 0600) for the unit's "
        "'alo-token' credential"
    ]
    assert report.exit_code(found) == ExitCode.FAILURE


def test_outside_the_unit_the_credentials_source_file_is_read(tmp_path: Path) -> None:
    # A technician's shell has no $CREDENTIALS_DIRECTORY: the unit's source file is checked.
    source = token_file(tmp_path, jwt_for(ttl_hours=72))
    found = token_findings(config(tmp_path, token_file=None), NOW, {}, source)
    assert [f.verdict for f in found] == [Verdict.OK]
    assert found[0].message.startswith(f"a JWT for user door-42 from {source}, expires at ")


def test_a_missing_token_file_fails(tmp_path: Path) -> None:
    path = tmp_path / "token"
    found = token_findings(config(tmp_path, token_file=path), NOW, {}, tmp_path / "none")
    assert lines(found) == [
        f"FAIL token: token file {path} does not exist; fix: put the device's token in "
        f"{path} (mode 0600)"
    ]


def test_an_empty_token_file_fails(tmp_path: Path) -> None:
    path = tmp_path / "token"
    assert lines(findings(tmp_path, "\n")) == [
        f"FAIL token: token file {path} is empty; fix: put the device's token in {path} (mode 0600)"
    ]


def test_a_systemd_credential_fix_says_to_restart(tmp_path: Path) -> None:
    credentials = tmp_path / "creds"
    credentials.mkdir()
    (credentials / "alo-token").write_text(jwt_for(ttl_hours=1, issued=NOW - 2 * HOUR))
    found = token_findings(
        config(tmp_path, token_file=None),
        NOW,
        {"CREDENTIALS_DIRECTORY": str(credentials)},
        tmp_path / "none",
    )
    assert found[0].verdict is Verdict.FAIL
    assert found[0].fix is not None
    assert found[0].fix.endswith(
        "then `sudo systemctl restart alo-edge` (systemd copies the credential at start)"
    )


def test_a_token_that_is_not_a_jwt_fails_against_an_access_endpoint(tmp_path: Path) -> None:
    path = tmp_path / "token"
    found = findings(tmp_path, "not-a-jwt-at-all-21ch")
    assert lines(found) == [
        f"FAIL token: not a JWT (21 characters in {path}): ALO's access endpoint takes the JWT "
        f"its auth service issues; fix: put the device's token in {path} (mode 0600): the JWT "
        "ALO (or `alo-edge token` for a lab) issued for this device"
    ]
    assert report.exit_code(found) == ExitCode.FAILURE


def test_an_opaque_bearer_for_a_whip_endpoint_is_only_a_warning(tmp_path: Path) -> None:
    found = findings(tmp_path, "verysecret", access=False)
    path = tmp_path / "token"
    assert lines(found) == [
        f"WARN token: not a JWT (10 characters in {path}): an opaque bearer, whose expiry "
        "cannot be known here"
    ]
    assert report.exit_code(found) == ExitCode.OK


def test_a_jwt_whose_claims_do_not_decode_fails(tmp_path: Path) -> None:
    path = tmp_path / "token"
    assert lines(findings(tmp_path, "eyJhbGciOiJIUzI1NiJ9.%%%.sig")) == [
        "FAIL token: token looks like a JWT but its claims cannot be decoded "
        f"({path}); fix: put the device's token in {path} (mode 0600)"
    ]


def test_an_expired_token_fails_with_when(tmp_path: Path) -> None:
    path = tmp_path / "token"
    found = findings(tmp_path, jwt_for(ttl_hours=1, issued=NOW - 3 * HOUR))
    assert lines(found) == [
        f"FAIL token: expired at 2025-06-15T13:06:40+00:00 (2 h 0 min ago), a JWT for user "
        f"door-42 from {path}; fix: put the device's token in {path} (mode 0600)"
    ]
    assert report.exit_code(found) == ExitCode.FAILURE


def test_a_token_expiring_within_a_day_is_a_warning(tmp_path: Path) -> None:
    path = tmp_path / "token"
    found = findings(tmp_path, jwt_for(ttl_hours=5.5))
    assert lines(found) == [
        f"WARN token: expires at 2025-06-15T20:36:40+00:00 (in 5 h 30 min), a JWT for user "
        f"door-42 from {path}; fix: before then, put the device's token in {path} (mode 0600)"
    ]
    assert report.exit_code(found) == ExitCode.OK


def test_a_token_good_for_days_is_ok(tmp_path: Path) -> None:
    path = tmp_path / "token"
    assert lines(findings(tmp_path, jwt_for(ttl_hours=75))) == [
        f"ok   token: a JWT for user door-42 from {path}, expires at "
        "2025-06-18T18:06:40+00:00 (in 3 d 3 h)"
    ]


def test_a_jwt_without_expiry_is_ok(tmp_path: Path) -> None:
    claims = base64.urlsafe_b64encode(json.dumps({"sub": "door-42"}).encode()).decode()
    found = findings(tmp_path, f"eyJhbGciOiJub25lIn0.{claims.rstrip('=')}.x")
    assert lines(found) == [
        f"ok   token: a JWT for user door-42 from {tmp_path / 'token'}, no expiry"
    ]


def test_a_token_for_another_user_is_a_warning(tmp_path: Path) -> None:
    found = findings(tmp_path, jwt_for("door-41", ttl_hours=72))
    assert found[-1].verdict is Verdict.WARN
    assert found[-1].message == (
        "issued for user door-41, but device.user_id is door-42: an access endpoint refuses "
        "a token for another user"
    )


def test_a_token_issued_in_the_devices_future_says_the_clock_is_behind(tmp_path: Path) -> None:
    found = findings(tmp_path, jwt_for(ttl_hours=72, issued=NOW + 2 * HOUR))
    assert lines(found)[-1] == (
        "WARN clock: the token says issued 2025-06-15T17:06:40+00:00, 2 h 0 min after this "
        "device's time (2025-06-15T15:06:40+00:00): is the clock behind?; fix: synchronize the "
        "clock (`timedatectl status`: NTP on, synchronized)"
    )


def test_no_line_ever_holds_the_token(tmp_path: Path) -> None:
    token = jwt_for(ttl_hours=1, issued=NOW - 3 * HOUR)
    text = json.dumps([f.to_dict() for f in findings(tmp_path, token)])
    assert token not in text
    assert token.split(".")[1] not in text


def test_the_unit_credential_file_is_the_units_load_credential_source() -> None:
    unit = UNIT_FILE.read_text(encoding="utf-8")
    assert f"LoadCredential=alo-token:{UNIT_CREDENTIAL_FILE}" in unit


def test_the_access_request_names_the_user_as_the_device_does(tmp_path: Path) -> None:
    cfg = config_from_dict(
        {
            "device": {"user_id": "door-42", "name": "Front door", "device_id": "pi-01"},
            "alo": {"channel": "c", "url": "http://127.0.0.1:9/whip/c"},
        }
    )
    assert device_user(cfg) == VideoUser("door-42", "Front door", "pi-01").to_dict()


# --- the exit code and the summary ---------------------------------------------------------


def finding(verdict: Verdict, code: ExitCode = ExitCode.FAILURE, name: str = "x") -> Finding:
    return Finding(name, verdict, f"{name} says {verdict.value}", exit_code=code)


@pytest.mark.parametrize(
    ("found", "code"),
    [
        ([finding(Verdict.OK), finding(Verdict.WARN), finding(Verdict.SKIP)], ExitCode.OK),
        ([finding(Verdict.FAIL)], ExitCode.FAILURE),
        ([finding(Verdict.FAIL), finding(Verdict.FAIL, ExitCode.HARDWARE)], ExitCode.HARDWARE),
        ([finding(Verdict.FAIL, ExitCode.CONFIG)], ExitCode.CONFIG),
        # A hardware code on a finding that did not fail changes nothing.
        ([finding(Verdict.WARN, ExitCode.HARDWARE)], ExitCode.OK),
    ],
)
def test_the_exit_code_is_the_gravest_failure(found: list[Finding], code: ExitCode) -> None:
    assert report.exit_code(found) == code


def test_the_summary_names_the_gravest_failure_and_counts_the_rest() -> None:
    found = [
        finding(Verdict.FAIL, name="token"),
        finding(Verdict.FAIL, ExitCode.HARDWARE, name="camera"),
        finding(Verdict.FAIL, ExitCode.HARDWARE, name="gpio"),
    ]
    assert report.summary(found) == (
        "alo-edge: hardware missing: camera says fail (and 2 more problems above)"
    )
    assert report.summary([finding(Verdict.FAIL, name="token")]) == (
        "alo-edge: check failed: token says fail"
    )
    assert report.summary([finding(Verdict.WARN)]) is None


def test_the_json_document_carries_every_finding_and_the_exit_code() -> None:
    found = [finding(Verdict.OK, name="config"), finding(Verdict.FAIL, ExitCode.HARDWARE)]
    document = report.document("/etc/alo-edge/config.toml", found)
    assert document["ok"] is False
    assert document["exitCode"] == 69
    assert [f["verdict"] for f in document["findings"]] == ["ok", "fail"]
    assert [f["exitCode"] for f in document["findings"]] == [0, 69]
    assert re.fullmatch(r"(ok  |WARN|FAIL|skip) .*", report.lines(found)[0])
