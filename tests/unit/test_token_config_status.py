"""alo.token_url in the config, in `alo-edge config` and in /status and /metrics.

The client secret and every token stay out of all of them.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import generate_latest

from alo_edge.config import ConfigError, config_from_dict, load_config, render_config
from alo_edge.session.credentials import CredentialState
from alo_edge.system.status import StatusServer
from alo_edge.system.token_status import TokenStatus
from tests.helpers import run_cli

EXAMPLE = Path(__file__).resolve().parents[2] / "config" / "example.toml"
GRANT = {"token_url": "https://auth.example.net/oauth/token", "client_id": "door-42"}


def minimal(**alo: Any) -> dict[str, Any]:
    return {
        "device": {"user_id": "door-42"},
        "alo": {"url": "https://alo.example.net/whip/front", "channel": "front", **alo},
    }


def test_token_url_with_a_client_id_loads() -> None:
    alo = config_from_dict(minimal(**GRANT, scope="video")).alo

    assert (alo.token_url, alo.client_id, alo.scope) == (GRANT["token_url"], "door-42", "video")


@pytest.mark.parametrize(
    ("alo", "key", "says"),
    [
        ({"token_url": GRANT["token_url"]}, "alo.client_id", "is required with alo.token_url"),
        ({**GRANT, "token_file": "/etc/alo-edge/token"}, "alo.token_file", "not both"),
        ({**GRANT, "token_url": "auth.example.net/token"}, "alo.token_url", "http:// or https://"),
        ({"client_id": "door-42"}, "alo.client_id", "needs alo.token_url"),
        ({"client_secret_file": "/etc/s"}, "alo.client_secret_file", "needs alo.token_url"),
        ({"scope": "video"}, "alo.scope", "needs alo.token_url"),
        ({**GRANT, "client_id": "door\n42"}, "alo.client_id", "printable"),
    ],
)
def test_credential_keys_that_do_not_fit_together_name_the_key(
    alo: dict[str, Any], key: str, says: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        config_from_dict(minimal(**alo))

    assert str(caught.value).startswith(f"{key}: ")
    assert says in str(caught.value)


def test_the_example_with_its_token_url_lines_uncommented_loads(tmp_path: Path) -> None:
    text = EXAMPLE.read_text(encoding="utf-8")
    for key in ("token_url", "client_id", "client_secret_file", "scope"):
        text, count = re.subn(rf"^# ({key} = )", r"\1", text, flags=re.MULTILINE)
        assert count == 1, key
    uncommented = tmp_path / "fleet.toml"
    uncommented.write_text(text, encoding="utf-8")

    alo = load_config(uncommented).alo

    assert alo.token_url == "https://auth.example.net/oauth/token"
    assert alo.client_secret_file == "/var/lib/alo-edge/client-secret"


def test_alo_edge_config_shows_where_tokens_come_from_and_never_the_secret(
    tmp_path: Path,
) -> None:
    secret = "client-secret-0123456789-abcdefghij"
    secret_file = tmp_path / "client-secret"
    secret_file.write_text(secret + "\n", encoding="ascii")
    config = tmp_path / "door.toml"
    config.write_text(
        f"""[device]
user_id = "door-42"
[alo]
url = "https://alo.example.net/whip/front"
channel = "front"
token_url = "https://auth.example.net/oauth/token"
client_id = "door-42"
client_secret_file = "{secret_file}"
""",
        encoding="utf-8",
    )

    result = run_cli("config", "-c", str(config))

    assert result.returncode == 0, result.stderr
    assert secret not in result.stdout + result.stderr
    assert 'token_url = "https://auth.example.net/oauth/token"' in result.stdout
    assert (
        "token: fetched from https://auth.example.net/oauth/token as client 'door-42' with "
        f"the secret from {secret_file} (value masked, {len(secret)} characters)"
    ) in result.stdout
    assert "client-secret-0123" not in render_config(load_config(config))


class HeldState:
    """Credentials whose state the test sets (only ``state()`` is read by the section)."""

    def __init__(self, state: CredentialState) -> None:
        self.current = state

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def bearer(self) -> str:
        return "never-shown"

    async def refused(self, token: str) -> bool:
        return False

    def state(self) -> CredentialState:
        return self.current


def test_status_and_metrics_show_the_expiry_and_how_renewal_goes() -> None:
    held = HeldState(
        CredentialState(
            "client_credentials",
            expires_at=1_700_000_600.0,
            obtained_at=1_700_000_000.0,
            renew_at=1_700_000_480.0,
            renewals=3,
            failures=2,
            last_error="token endpoint answered HTTP 503",
            last_error_at=1_700_000_490.0,
        )
    )
    section = TokenStatus(held)
    server = StatusServer(config_from_dict(minimal(**GRANT)), sections=[section])

    status = section.status()
    metrics = generate_latest(server.registry).decode()

    assert section.status_key == "token"
    assert status == {
        "source": "client_credentials",
        "expiresAt": "2023-11-14T22:23:20+00:00",
        "obtainedAt": "2023-11-14T22:13:20+00:00",
        "renewAt": "2023-11-14T22:21:20+00:00",
        "renewals": 3,
        "renewalFailures": 2,
        "lastRenewalError": "token endpoint answered HTTP 503",
        "lastRenewalErrorAt": "2023-11-14T22:21:30+00:00",
    }
    assert "alo_edge_token_expiry_timestamp_seconds 1.7000006e+09" in metrics
    assert "alo_edge_token_renewals_total 3.0" in metrics
    assert "alo_edge_token_renewal_failures 2.0" in metrics
    assert "never-shown" not in metrics + str(status)


def test_an_unknown_expiry_is_absent_from_the_metrics_not_zero() -> None:
    section = TokenStatus(HeldState(CredentialState("file")))
    server = StatusServer(config_from_dict(minimal()), sections=[section])

    metrics = generate_latest(server.registry).decode()

    assert "alo_edge_token_expiry_timestamp_seconds" not in metrics
    assert section.status()["expiresAt"] is None
