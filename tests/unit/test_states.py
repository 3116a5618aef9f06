"""The connection states and which transitions between them the session may report."""

from __future__ import annotations

import itertools

import pytest

from alo_edge.api import AloVideo
from alo_edge.session.states import STATE_MESSAGES, TRANSITIONS, ConnectionState, is_allowed

S = ConnectionState
ALL = list(ConnectionState)

LIFECYCLE_PATHS = {
    "first connect": [S.NOT_CONNECTED, S.ACQUIRING_ACCESS, S.CONNECTING, S.CONNECTED],
    "link lost, countdown, reconnect": [
        S.CONNECTED,
        S.ERROR,
        S.RECONNECT_PENDING,
        S.RECONNECT_PENDING,
        S.ACQUIRING_ACCESS,
        S.CONNECTING,
        S.CONNECTED,
    ],
    "access refused": [S.ACQUIRING_ACCESS, S.ERROR, S.RECONNECT_PENDING],
    "connect failed": [S.CONNECTING, S.ERROR, S.RECONNECT_PENDING, S.ACQUIRING_ACCESS],
    "connect again after disconnect": [S.DISCONNECTED, S.ACQUIRING_ACCESS],
}


def test_states_are_spelled_as_alo_spells_them() -> None:
    assert [s.value for s in ALL] == [
        "NOT_CONNECTED",
        "ACQUIRING_ACCESS",
        "CONNECTING",
        "CONNECTED",
        "DISCONNECTED",
        "ERROR",
        "RECONNECT_PENDING",
    ]


def test_alo_video_constants_carry_the_state_values_on_class_and_instance() -> None:
    for state in ALL:
        assert getattr(AloVideo, f"CONNECTION_STATUS_{state.name}") == state.value
    assert (AloVideo.VIDEO_STATE_AVAILABLE, AloVideo.VIDEO_STATE_UNAVAILABLE) == (
        "AVAILABLE",
        "UNAVAILABLE",
    )


@pytest.mark.parametrize("state", ALL, ids=str)
def test_every_state_has_transitions_and_a_message(state: ConnectionState) -> None:
    assert TRANSITIONS[state], f"{state} leads nowhere"
    assert STATE_MESSAGES[state].strip()


def test_every_transition_leads_to_a_known_state() -> None:
    assert set(TRANSITIONS) == set(ALL)
    assert all(targets <= set(ALL) for targets in TRANSITIONS.values())


@pytest.mark.parametrize("path", list(LIFECYCLE_PATHS.values()), ids=list(LIFECYCLE_PATHS))
def test_lifecycle_paths_of_the_design_are_allowed(path: list[ConnectionState]) -> None:
    for old, new in itertools.pairwise(path):
        assert is_allowed(old, new), f"{old} -> {new}"


@pytest.mark.parametrize(
    ("old", "new"),
    [
        (S.NOT_CONNECTED, S.CONNECTED),
        (S.NOT_CONNECTED, S.CONNECTING),
        (S.ACQUIRING_ACCESS, S.CONNECTED),
        (S.ERROR, S.ACQUIRING_ACCESS),
        (S.ERROR, S.CONNECTED),
        (S.RECONNECT_PENDING, S.CONNECTED),
        (S.CONNECTED, S.CONNECTING),
        (S.DISCONNECTED, S.CONNECTED),
    ],
    ids=lambda s: str(s),
)
def test_shortcuts_around_the_lifecycle_are_not_allowed(
    old: ConnectionState, new: ConnectionState
) -> None:
    assert not is_allowed(old, new)


@pytest.mark.parametrize("state", [s for s in ALL if s is not S.DISCONNECTED], ids=str)
def test_disconnect_is_reachable_from_every_state(state: ConnectionState) -> None:
    assert is_allowed(state, S.DISCONNECTED)


def test_disconnected_does_not_follow_itself() -> None:
    assert not is_allowed(S.DISCONNECTED, S.DISCONNECTED)


def test_only_the_countdown_may_repeat_itself() -> None:
    assert [s for s in ALL if is_allowed(s, s)] == [S.RECONNECT_PENDING]
