"""ICE servers advertised in a WHIP endpoint's Link headers (RFC 9725 section 4.6)."""

from __future__ import annotations

from alo_edge.transport.whip import parse_link_ice_servers


def test_one_stun_server() -> None:
    assert parse_link_ice_servers(['<stun:stun.example.net:3478>; rel="ice-server"']) == [
        {"urls": ["stun:stun.example.net:3478"]}
    ]


def test_turn_server_with_username_and_credential() -> None:
    value = (
        '<turn:turn.example.net:3478?transport=udp>; rel="ice-server"; '
        'username="door-1"; credential="s3cret"; credential-type="password"'
    )
    assert parse_link_ice_servers([value]) == [
        {
            "urls": ["turn:turn.example.net:3478?transport=udp"],
            "username": "door-1",
            "credential": "s3cret",
        }
    ]


def test_base64_credential_keeps_its_padding() -> None:
    # TURN REST credentials are base64 HMACs, usually ending in '='.
    value = (
        '<turn:t.example.net>; rel="ice-server"; username="1700000000:door"; credential="q3Z/+a=="'
    )
    [server] = parse_link_ice_servers([value])
    assert server["credential"] == "q3Z/+a=="
    assert server["username"] == "1700000000:door"


def test_several_links_in_one_header_value() -> None:
    value = (
        '<stun:a.example.net>; rel="ice-server", '
        '<turn:b.example.net>; rel="ice-server"; username="u"; credential="c"'
    )
    assert parse_link_ice_servers([value]) == [
        {"urls": ["stun:a.example.net"]},
        {"urls": ["turn:b.example.net"], "username": "u", "credential": "c"},
    ]


def test_several_link_headers_keep_their_order() -> None:
    values = ['<stun:a.example.net>; rel="ice-server"', '<stun:b.example.net>; rel="ice-server"']
    assert [s["urls"] for s in parse_link_ice_servers(values)] == [
        ["stun:a.example.net"],
        ["stun:b.example.net"],
    ]


def test_links_with_other_relations_are_ignored() -> None:
    values = [
        '<https://whip.example.net/sse>; rel="urn:ietf:params:whip:ext:core:server-sent-events"',
        '<stun:a.example.net>; rel="ice-server", <https://example.net/help>; rel="help"',
        "<stun:no-rel.example.net>",
    ]
    assert parse_link_ice_servers(values) == [{"urls": ["stun:a.example.net"]}]


def test_unquoted_rel_and_upper_case_parameter_names_are_understood() -> None:
    value = "<turn:t.example.net>; REL=ice-server; Username=u; Credential=c"
    assert parse_link_ice_servers([value]) == [
        {"urls": ["turn:t.example.net"], "username": "u", "credential": "c"}
    ]


def test_no_link_headers_means_no_servers() -> None:
    assert parse_link_ice_servers([]) == []
