"""ICE servers that came over the network are judged by aiortc's own parser, entry by entry.

A bad entry from an access answer or a WHIP ``Link`` costs that entry and a warning
naming it; it never stops the device (exit 78 is for the local config file) and never
reaches aiortc, where it would fail every later attempt before its POST.
"""

from __future__ import annotations

import logging

import pytest

from alo_edge.app import build_video
from alo_edge.config import config_from_dict
from alo_edge.errors import ConfigError
from alo_edge.transport.access import parse_access_answer
from alo_edge.transport.ice import rtc_configuration_from_dicts, usable_ice_servers
from alo_edge.transport.whip import parse_link_ice_servers

UNUSABLE = [
    ("stun.example.net:3478", "no stun:, turn: or turns: scheme"),
    ("stun:stun.example.net:3478?transport=udp", "must not contain transport"),
    ("http://stun.example.net", "no stun:, turn: or turns: scheme"),
    ("turn:", "malformed uri"),
    ("stuns:stun.example.net", "STUN over TLS"),
    ("turn:turn.example.net?transport=sctp", "'sctp'"),
    ("turns:turn.example.net?transport=udp", "TLS runs over tcp"),
]


@pytest.mark.parametrize(("url", "problem"), UNUSABLE)
def test_a_link_url_aiortc_cannot_use_is_dropped_with_a_warning_naming_it(
    url: str, problem: str, caplog: pytest.LogCaptureFixture
) -> None:
    header = f'<{url}>; rel="ice-server"; username="door"; credential="s3cret-turn-password"'
    good = '<stun:stun.example.net:3478>; rel="ice-server"'
    with caplog.at_level(logging.WARNING):
        servers = parse_link_ice_servers([header, good])

    assert servers == [{"urls": ["stun:stun.example.net:3478"]}]
    [warning] = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert "WHIP Link" in warning
    assert repr(url) in warning
    assert problem in warning
    assert "s3cret" not in caplog.text  # a credential is never in a log line
    # What is left builds a peer configuration aiortc accepts.
    rtc_configuration_from_dicts(servers)


def test_an_access_answer_keeps_its_good_ice_servers_and_drops_the_bad(
    caplog: pytest.LogCaptureFixture,
) -> None:
    payload = (
        b'{"transport": "whip", "url": "https://sfu.example.net/whip/front",'
        b' "iceServers": ['
        b'  {"urls": ["stun:host:3478?transport=udp", "stun:stun.example.net"]},'
        b'  {"urls": "turn:turn.example.net?transport=tcp", "username": "u", "credential": 5},'
        b'  "stun:not-an-object",'
        b'  {"urls": "turns:turn.example.net:443", "username": "u", "credential": "c"}]}'
    )
    with caplog.at_level(logging.WARNING):
        access = parse_access_answer(payload, default_token="t")

    assert access.ice_servers == (
        {"urls": ["stun:stun.example.net"]},
        {"urls": ["turns:turn.example.net:443"], "username": "u", "credential": "c"},
    )
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 3
    assert "access answer iceServers[0]" in warnings[0]
    assert "'stun:host:3478?transport=udp'" in warnings[0]
    assert "iceServers[1]" in warnings[1]
    assert "iceServers[2]" in warnings[2]


def test_an_access_answer_whose_ice_servers_are_not_a_list_still_gives_access() -> None:
    access = parse_access_answer(
        b'{"transport": "whip", "url": "https://sfu.example.net/w", "iceServers": "stun:x"}',
        default_token="t",
    )
    assert access.ice_servers == ()


def test_good_urls_of_every_kind_aiortc_uses_are_kept() -> None:
    urls = [
        "stun:stun.example.net",
        "stun:stun.example.net:3478",
        "turn:turn.example.net",
        "turn:turn.example.net:3478?transport=udp",
        "turn:turn.example.net:3478?transport=tcp",
        "turns:turn.example.net:443",
        "turns:turn.example.net:443?transport=tcp",
    ]
    assert usable_ice_servers([{"urls": urls}], source="test") == [{"urls": urls}]


def test_the_local_config_naming_a_url_aiortc_cannot_use_is_a_config_error() -> None:
    # Only the local file may stop the service, and it should, at start, naming the key.
    config = config_from_dict(
        {
            "device": {"user_id": "door-1"},
            "alo": {
                "url": "http://127.0.0.1:9/whip",
                "channel": "c",
                "ice_servers": [{"urls": ["stun:host:3478?transport=udp"]}],
            },
        }
    )
    with pytest.raises(ConfigError, match=r"alo\.ice_servers\[0\]\.urls.*must not contain"):
        build_video(config)
