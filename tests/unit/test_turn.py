"""An ordered TURN list across attempts: one entry per connection, chosen from all of them."""

from __future__ import annotations

import asyncio
import logging

import pytest

from alo_edge.transport.turn import (
    IceAttempt,
    IcePlan,
    TurnAnswer,
    TurnRotation,
    TurnServer,
    choose,
    turn_servers,
    without_turn,
)

UDP = TurnServer("turn:t.example.net:3478?transport=udp", "1700000000:door", "c1")
TCP = TurnServer("turn:t.example.net:3478?transport=tcp", "1700000000:door", "c1")
TLS = TurnServer("turns:t.example.net:443?transport=tcp", "1700000000:door", "c1")
LIST = [UDP, TCP, TLS]
SERVERS = [
    {"urls": ["stun:s.example.net"]},
    {"urls": [UDP.url, TCP.url], "username": UDP.username, "credential": UDP.credential},
    {"urls": [TLS.url], "username": TLS.username, "credential": TLS.credential},
]


def test_every_turn_url_is_an_entry_in_order_with_its_credentials() -> None:
    assert turn_servers(SERVERS) == LIST
    assert without_turn(SERVERS) == [{"urls": ["stun:s.example.net"]}]
    assert TLS.tls
    assert TLS.transport == "tcp"
    assert TLS.address == ("t.example.net", 443)
    assert UDP.transport == "udp"


def test_a_credential_never_shows_in_a_repr() -> None:
    assert "c1" not in repr(UDP)


def test_an_attempt_failing_at_ice_moves_the_next_one_to_the_next_entry() -> None:
    rotation = TurnRotation()
    assert rotation.order(LIST)[0] == UDP
    rotation.failed(UDP, LIST)
    assert rotation.order(LIST) == [TCP, TLS, UDP]
    rotation.failed(TCP, LIST)
    rotation.failed(TLS, LIST)
    assert rotation.order(LIST)[0] == UDP  # round again


def test_an_entry_that_worked_is_kept() -> None:
    rotation = TurnRotation()
    rotation.failed(UDP, LIST)
    rotation.worked(TCP)
    assert rotation.order(LIST)[0] == TCP


def test_fresh_credentials_keep_the_place_in_the_list() -> None:
    # An access answer brings new short-lived credentials every attempt: the place in
    # the list is kept by URL.
    rotation = TurnRotation()
    rotation.failed(UDP, LIST)
    renewed = [TurnServer(s.url, "1700000600:door", "c2") for s in LIST]
    assert rotation.order(renewed)[0].url == TCP.url
    assert rotation.order(renewed)[0].credential == "c2"


def answering(**answers: tuple[float, bool]) -> object:
    """An ``ask`` whose servers answer after a delay; ``None`` in the map: never."""

    async def ask(server: TurnServer, within: float) -> TurnAnswer:
        key = {UDP.url: "udp", TCP.url: "tcp", TLS.url: "tls"}[server.url]
        delay, granted = answers[key]
        await asyncio.sleep(min(delay, within))
        if delay > within:
            return TurnAnswer(False, f"did not answer within {within:g} s")
        return TurnAnswer(granted, "" if granted else "refused the credentials (401 Unauthorized)")

    return ask


async def test_behind_a_firewall_that_drops_udp_tcp_is_chosen_after_a_short_grace() -> None:
    ask = answering(udp=(60.0, True), tcp=(0.02, True), tls=(0.03, True))
    loop = asyncio.get_running_loop()
    started = loop.time()
    chosen, answers = await choose(LIST, within=3.0, grace=0.2, ask=ask)  # type: ignore[arg-type]

    assert chosen == TCP
    assert loop.time() - started < 1.0  # not the 3 s the UDP entry could take
    assert answers[TCP.url].granted


async def test_the_first_entry_wins_when_it_answers() -> None:
    ask = answering(udp=(0.05, True), tcp=(0.01, True), tls=(0.01, True))
    chosen, _ = await choose(LIST, within=3.0, grace=0.2, ask=ask)  # type: ignore[arg-type]

    assert chosen == UDP


async def test_a_refused_entry_is_passed_over() -> None:
    ask = answering(udp=(0.01, False), tcp=(0.02, True), tls=(0.01, True))
    chosen, answers = await choose(LIST, within=3.0, grace=0.2, ask=ask)  # type: ignore[arg-type]

    assert chosen == TCP
    assert "refused the credentials" in answers[UDP.url].problem


async def test_when_none_answers_there_is_no_choice() -> None:
    ask = answering(udp=(9.0, True), tcp=(9.0, True), tls=(0.01, False))
    chosen, _ = await choose(LIST, within=0.1, grace=0.05, ask=ask)  # type: ignore[arg-type]

    assert chosen is None


async def test_one_turn_entry_is_used_without_asking_first() -> None:
    attempt = await IcePlan().attempt(
        [{"urls": ["stun:s.example.net", TCP.url], "username": "u", "credential": "p"}]
    )

    assert attempt.turn is not None
    assert attempt.turn.url == TCP.url
    [stun, relay] = attempt.configuration.iceServers
    assert stun.urls == ["stun:s.example.net"]
    assert relay.urls == [TCP.url]
    assert relay.credential == "p"


async def test_a_refused_turn_server_explains_a_failed_media_path(
    caplog: pytest.LogCaptureFixture,
) -> None:
    attempt = IceAttempt(
        [],
        UDP,
        answers={UDP.url: TurnAnswer(False, "refused the credentials (401 Unauthorized)")},
    )
    with caplog.at_level(logging.WARNING):
        attempt.gathered("v=0\r\na=candidate:1 1 udp 1 198.18.2.1 5000 typ host\r\n")

    explanation = await attempt.why_media_failed()
    assert explanation == (
        "TURN server 'turn:t.example.net:3478?transport=udp' refused the credentials "
        "(401 Unauthorized)"
    )
    assert "refused the credentials" in caplog.text
    assert "c1" not in caplog.text


async def test_a_relay_candidate_means_the_turn_server_is_not_asked() -> None:
    # The allocation worked: whatever failed afterwards, the TURN server is not the story.
    attempt = IceAttempt([], UDP)
    attempt.gathered("a=candidate:2 1 udp 1 198.18.3.2 49200 typ relay raddr 0.0.0.0\r\n")

    assert await attempt.why_media_failed() == ""
