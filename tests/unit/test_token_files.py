"""Token and client-secret files that a person got wrong say what is wrong, in one line.

Field defects: a token file with two lines went out as a header aiohttp refuses
("unexpected error" and a traceback, every attempt); a token_file under /home, which
alo-edge.service's ProtectHome=yes hides, was reported as "does not exist".
"""

from __future__ import annotations

import signal
import socket
from pathlib import Path

import pytest

from alo_edge.config import config_from_dict
from alo_edge.errors import AuthError
from alo_edge.session.access import (
    client_secret_path,
    read_client_secret,
    read_token,
    token_path,
)
from tests.helpers import STEP, Processes, state_is

UNDER_SYSTEMD = {"INVOCATION_ID": "0123456789abcdef0123456789abcdef"}


def test_a_token_file_with_two_lines_is_a_clear_error_that_quotes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "token"
    path.write_text("eyJfirst.part.one\neyJsecond.part.two\n", encoding="ascii")

    with pytest.raises(AuthError) as caught:
        read_token(path)

    message = str(caught.value)
    assert message == (f"token file {path} holds 2 lines: it must hold only the token, on one line")


def test_a_token_with_a_space_or_control_character_inside_is_refused(tmp_path: Path) -> None:
    for content in ("Bearer abc.def.ghi", "abc\x07def"):
        path = tmp_path / "token"
        path.write_text(content, encoding="ascii")
        with pytest.raises(AuthError, match="holds a character no bearer token has"):
            read_token(path)


def test_a_client_secret_file_with_two_lines_is_refused_too(tmp_path: Path) -> None:
    path = tmp_path / "secret"
    path.write_text("one\ntwo\n", encoding="ascii")

    with pytest.raises(AuthError, match=r"client secret file .* holds 2 lines"):
        read_client_secret(path)


def test_a_file_under_home_is_reported_as_hidden_by_protect_home_under_systemd() -> None:
    path = Path("/home/pi/no-such-alo-token")

    with pytest.raises(AuthError) as caught:
        read_token(path, UNDER_SYSTEMD)

    message = str(caught.value)
    assert "does not exist" not in message
    assert "ProtectHome=yes" in message
    assert "/etc/alo-edge" in message


def test_outside_systemd_a_missing_file_still_says_it_does_not_exist() -> None:
    with pytest.raises(AuthError, match="does not exist"):
        read_token(Path("/home/pi/no-such-alo-token"), {})


def test_an_empty_systemd_credential_names_the_file_to_put_in_place(tmp_path: Path) -> None:
    # SetCredential= gives an empty default when /etc/alo-edge/token is missing.
    (tmp_path / "alo-token").write_text("", encoding="ascii")
    environ = {"CREDENTIALS_DIRECTORY": str(tmp_path)}
    config = config_from_dict(
        {"device": {"user_id": "d"}, "alo": {"url": "https://x/whip", "channel": "c"}}
    )

    with pytest.raises(AuthError) as caught:
        read_token(token_path(config, environ), environ)

    assert str(caught.value) == (
        "the systemd credential 'alo-token' is empty: /etc/alo-edge/token was missing when "
        "the service started; put it there (root, 0600), then 'systemctl restart alo-edge'"
    )


def test_the_client_secret_comes_from_the_file_else_the_systemd_credential() -> None:
    base = {"device": {"user_id": "d"}, "alo": {"url": "https://x/whip", "channel": "c"}}
    grant = {"token_url": "https://auth.example.net/token", "client_id": "door-42"}
    environ = {"CREDENTIALS_DIRECTORY": "/run/credentials/alo-edge.service"}
    with_file = config_from_dict(
        {**base, "alo": {**base["alo"], **grant, "client_secret_file": "/etc/x/secret"}}
    )
    from_credential = config_from_dict({**base, "alo": {**base["alo"], **grant}})

    assert client_secret_path(with_file, environ) == Path("/etc/x/secret")
    assert client_secret_path(from_credential, environ) == Path(
        "/run/credentials/alo-edge.service/alo-client-secret"
    )
    with pytest.raises(AuthError, match="LoadCredential=alo-client-secret:"):
        client_secret_path(from_credential, {})


def test_the_example_config_keeps_its_token_file_out_of_what_protect_home_hides() -> None:
    example = Path(__file__).resolve().parents[2] / "config" / "example.toml"
    lines = [line for line in example.read_text().splitlines() if "token_file =" in line]

    assert lines, "the example documents token_file"
    for line in lines:
        assert "/home/" not in line, line
        assert "/root/" not in line, line


def test_the_service_reports_a_two_line_token_as_an_error_without_a_traceback(
    tmp_path: Path, procs: Processes
) -> None:
    token = tmp_path / "token"
    token.write_text("eyJfirst.part.one\neyJsecond.part.two\n", encoding="ascii")
    # Something listens: before the fix the request got as far as aiohttp's header check.
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    port = listener.getsockname()[1]
    config = tmp_path / "door.toml"
    config.write_text(
        f"""[device]
user_id = "door-1"
[alo]
url = "http://127.0.0.1:{port}/whip/front"
channel = "front"
token_file = "{token}"
[video]
source = "synthetic"
width = 160
height = 120
[audio]
source = "synthetic"
[status]
listen = ""
""",
        encoding="utf-8",
    )
    device = procs.cli("run", "-c", str(config), "--events", "-", name="device")

    try:
        error = device.wait_for(state_is("ERROR"), what="ERROR for the token file")
        device.signal(signal.SIGTERM)
        device.wait(STEP)
    finally:
        listener.close()

    assert error["detail"]["message"].endswith(
        "holds 2 lines: it must hold only the token, on one line"
    )
    stderr = "\n".join(device.stderr.lines)
    assert "Traceback" not in stderr
    assert "unexpected error" not in stderr
