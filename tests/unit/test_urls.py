"""URLs as the device reads them: origins, loopback, plain text, and masking their secrets."""

from __future__ import annotations

import pytest

from alo_edge.config import Config, config_from_dict, render_config
from alo_edge.errors import ConfigError
from alo_edge.urls import (
    is_downgrade,
    is_loopback_host,
    mask_url,
    mask_urls_in,
    origin_of,
    plain_url_problem,
    same_origin,
)


@pytest.mark.parametrize(
    ("url", "origin"),
    [
        ("https://Whip.Example.net/whip/front", "https://whip.example.net:443"),
        ("https://whip.example.net:443/x", "https://whip.example.net:443"),
        ("http://127.0.0.1:8080/v1/video/access", "http://127.0.0.1:8080"),
        ("wss://sfu.example.net/janus", "https://sfu.example.net:443"),
        ("ws://[::1]:8188", "http://[::1]:8188"),
        ("https://u:p@host.example/x?token=1", "https://host.example:443"),
        ("stun:stun.example.net:3478", None),
        ("ftp://files.example.net/", None),
        ("http://", None),
        ("http://host:port/", None),
        ("/whip/resource/1", None),
    ],
)
def test_the_origin_is_scheme_host_and_port_with_websockets_as_http(
    url: str, origin: str | None
) -> None:
    assert origin_of(url) == origin


def test_same_origin_needs_scheme_host_and_port_to_match() -> None:
    assert same_origin("https://a.example/whip", "https://a.example:443/resource/1")
    assert same_origin("wss://a.example/janus", "https://a.example/v1/access")
    assert not same_origin("https://a.example/", "http://a.example/")
    assert not same_origin("http://127.0.0.1:8080/", "http://127.0.0.2:8080/")
    assert not same_origin("http://127.0.0.1:8080/", "http://127.0.0.1:8081/")
    assert not same_origin("http://", "http://")


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.0.0.2", True),
        ("::1", True),
        ("[::1]", True),
        ("localhost", True),
        ("lab.localhost", True),
        ("10.0.0.5", False),
        ("192.168.1.20", False),
        ("localhost.example.net", False),
        ("whip.example.net", False),
    ],
)
def test_loopback_hosts(host: str, loopback: bool) -> None:
    assert is_loopback_host(host) is loopback


def test_plain_text_goes_only_to_loopback_unless_allowed() -> None:
    assert plain_url_problem("http://127.0.0.1:8080/x", allow_insecure=False) is None
    assert plain_url_problem("ws://localhost:8188", allow_insecure=False) is None
    assert plain_url_problem("https://whip.example.net/x", allow_insecure=False) is None
    problem = plain_url_problem("http://192.168.1.20:8080/x", allow_insecure=False)
    assert problem is not None
    assert "network.allow_insecure" in problem
    assert plain_url_problem("http://192.168.1.20:8080/x", allow_insecure=True) is None
    assert "not an http(s) or ws(s) URL" in str(plain_url_problem("ftp://x/", allow_insecure=True))


def test_a_downgrade_drops_tls() -> None:
    assert is_downgrade("https://a.example/v1/access", "http://a.example/whip")
    assert is_downgrade("wss://a.example/janus", "ws://a.example/janus")
    assert not is_downgrade("http://127.0.0.1/v1/access", "http://127.0.0.1/whip")
    assert not is_downgrade("https://a.example/", "wss://b.example/")


@pytest.mark.parametrize(
    ("url", "masked"),
    [
        ("https://whip.example.net/whip/front", "https://whip.example.net/whip/front"),
        (
            "https://whip.example.net/whip/front?token=s3cret&room=5",
            "https://whip.example.net/whip/front?token=***&room=***",
        ),
        ("https://door:pa55@whip.example.net/whip", "https://***@whip.example.net/whip"),
        ("wss://sfu.example.net/janus?s3cret", "wss://sfu.example.net/janus?***"),
        ("https://x.example/a#access_token=s3cret", "https://x.example/a#***"),
        ("not a url at all", "not a url at all"),
    ],
)
def test_a_url_is_shown_without_its_secrets(url: str, masked: str) -> None:
    assert mask_url(url) == masked


def test_urls_inside_text_are_masked_and_the_text_kept() -> None:
    text = (
        "WHIP endpoint http://door:pw@127.0.0.1:9/whip?key=hunter2 unreachable: "
        "Cannot connect (see 'https://a.example/x?t=1'), then https://b.example/y."
    )
    assert mask_urls_in(text) == (
        "WHIP endpoint http://***@127.0.0.1:9/whip?key=*** unreachable: "
        "Cannot connect (see 'https://a.example/x?t=***'), then https://b.example/y."
    )


# --- the config --------------------------------------------------------------------------


def _config(alo: dict[str, object]) -> Config:
    return config_from_dict({"device": {"user_id": "door-1"}, "alo": {"channel": "front", **alo}})


def test_alo_edge_config_masks_the_secrets_of_every_url() -> None:
    config = _config({"access_url": "https://alo.example.net/v1/access?key=hunter2"})
    text = render_config(config)
    assert "hunter2" not in text
    assert 'access_url = "https://alo.example.net/v1/access?key=***"' in text


def test_a_url_with_a_password_is_a_config_error_that_does_not_show_it() -> None:
    # aiohttp cannot send a bearer to a URL with userinfo (it raises), and the password
    # would be one more secret in a file that is not the token file.
    with pytest.raises(ConfigError) as caught:
        _config({"url": "https://door:pa55@whip.example.net/whip/front"})
    assert caught.value.key == "alo.url"
    assert "pa55" not in str(caught.value)
    assert "https://***@whip.example.net/whip/front" in str(caught.value)
