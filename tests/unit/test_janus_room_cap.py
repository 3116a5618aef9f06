"""The VideoRoom model holds at most ``max_remotes`` others; the rest are ignored and counted."""

from __future__ import annotations

from typing import Any

from alo_edge.config import config_from_dict
from alo_edge.transport.janus.room import MAX_PARTICIPANTS, Room

OWN_ID = 1


def publisher(number: int) -> dict[str, Any]:
    return {
        "id": 100 + number,
        "display": f"guest {number}",
        "streams": [{"type": "audio", "mid": "0"}],
    }


def test_a_room_of_twenty_lists_the_first_sixteen_and_counts_the_rest() -> None:
    room = Room()
    room.joined(OWN_ID, {"publishers": [publisher(n) for n in range(20)]})

    assert MAX_PARTICIPANTS == 16
    assert [r.display for r in room.remotes.values()] == [f"guest {n}" for n in range(16)]
    assert room.ignored == 4


def test_newcomers_to_a_full_room_are_ignored_until_someone_leaves() -> None:
    room = Room(max_remotes=2)
    room.joined(OWN_ID, {"publishers": [publisher(0), publisher(1)]})

    crowded = room.apply({"publishers": [publisher(2)]})
    assert crowded.changed is False
    assert list(room.remotes) == [100, 101]
    assert room.ignored == 1
    # A known participant's updates still count when the room is full.
    update = room.apply({"publishers": [{**publisher(1), "streams": []}]})
    assert update.changed is True
    assert room.apply({"joining": {"id": 150, "display": "attendee"}}).changed is False
    assert room.ignored == 2

    room.apply({"leaving": 100})
    welcome = room.apply({"publishers": [publisher(3)]})
    assert welcome.changed is True
    assert list(room.remotes) == [101, 103]


def test_the_cap_is_the_config_key_alo_max_participants() -> None:
    document = {"device": {"user_id": "d"}, "alo": {"transport": "janus",
                "url": "ws://127.0.0.2:8188", "channel": "1234"}}  # fmt: skip
    assert config_from_dict(document).alo.max_participants == 16
    document["alo"]["max_participants"] = 4
    assert config_from_dict(document).alo.max_participants == 4
