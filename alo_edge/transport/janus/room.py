"""The VideoRoom as the device sees it: who else is there and what they publish (pure).

Janus tells a publisher about the others in its ``join`` answer and then in events
(``publishers``, ``joining``, ``unpublished``, ``leaving``, ``kicked``). :class:`Room`
folds those into :class:`RemotePublisher` records and says, per event, what changed
for the SDK's ``onPublishedStreamChange`` and for talk-back. No I/O, no clock.

The room holds at most ``max_remotes`` others: a participant announced when it is full
is ignored (and counted in :attr:`Room.ignored`), so a crowded or hostile room costs a
small device a bounded amount of memory and, through talk-back, of peer connections.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from alo_edge.transport.janus.session import positive_id
from alo_edge.transport.room import Participant

#: Other participants a device tracks by default (``alo.max_participants``).
MAX_PARTICIPANTS = 16


def listed(data: dict[str, Any], key: str) -> list[Any]:
    """``data[key]`` when it is a list, else an empty one (Janus's lists are optional)."""
    value = data.get(key)
    return value if isinstance(value, list) else []


@dataclass
class RemotePublisher:
    """What the room said about one other participant."""

    id: int
    display: str
    audio_mid: str | None = None
    video: bool = False

    @classmethod
    def from_janus(cls, entry: Any) -> RemotePublisher | None:
        """A publisher (or attendee) entry of a VideoRoom message; None when malformed."""
        if not isinstance(entry, dict):
            return None
        publisher_id = positive_id(entry.get("id"))
        if publisher_id is None:
            return None
        display = entry.get("display")
        remote = cls(publisher_id, display[:256] if isinstance(display, str) else "")
        remote.update_streams(entry.get("streams"))
        return remote

    def update_streams(self, streams: Any) -> None:
        """Take the first audio stream's mid and whether any video stream is enabled."""
        self.audio_mid, self.video = None, False
        for stream in streams if isinstance(streams, list) else []:
            if not isinstance(stream, dict) or stream.get("disabled") is True:
                continue
            kind, mid = stream.get("type"), stream.get("mid")
            if kind == "audio" and self.audio_mid is None and isinstance(mid, str):
                self.audio_mid = mid
            elif kind == "video":
                self.video = True

    @property
    def publishing(self) -> bool:
        return self.audio_mid is not None or self.video

    def participant(self) -> Participant:
        """The SDK's view of this publisher (Janus has no user id: the display name is it)."""
        return Participant(
            id=str(self.id),
            user_id=self.display or str(self.id),
            name=self.display or str(self.id),
            is_publishing_audio=self.audio_mid is not None,
            is_publishing_video=self.video,
            stream_id=str(self.id) if self.publishing else None,
        )


@dataclass(frozen=True)
class RoomChange:
    """What one room event changed."""

    changed: bool
    #: Remote participants that started or stopped publishing (their new flags).
    stream_changes: list[Participant] = field(default_factory=list)
    #: Every publisher id the event touched (their talk-back may need (re)subscribing).
    touched: frozenset[int] = frozenset()


def _publishing(participant: Participant) -> tuple[bool, bool]:
    return participant.is_publishing_audio, participant.is_publishing_video


class Room:
    """The other participants of one VideoRoom, from the join answer and the room's events."""

    def __init__(self, max_remotes: int = MAX_PARTICIPANTS) -> None:
        self.own_id: int | None = None
        self.max_remotes = max_remotes
        self.remotes: dict[int, RemotePublisher] = {}
        #: Announcements of other participants ignored because the room was full.
        self.ignored = 0
        #: True when the room reports passive attendees (``notify_joining``): a participant
        #: who unpublishes then stays listed until it leaves.
        self.attendees_reported = False

    def joined(self, own_id: int, answer: dict[str, Any]) -> None:
        """Take the publishers and attendees the ``join`` answer listed."""
        self.own_id = own_id
        self.attendees_reported = isinstance(answer.get("attendees"), list)
        for entry in [*listed(answer, "publishers"), *listed(answer, "attendees")]:
            remote = RemotePublisher.from_janus(entry)
            if remote is not None and remote.id != own_id:
                self._track(remote)

    def apply(self, data: dict[str, Any]) -> RoomChange:
        """Fold one VideoRoom event into the room; say what changed."""
        before = {rid: r.participant() for rid, r in self.remotes.items()}
        for entry in listed(data, "publishers"):
            remote = RemotePublisher.from_janus(entry)
            if remote is None or remote.id == self.own_id:
                continue
            known = self._track(remote)
            if known is None:
                continue
            known.display = remote.display or known.display
            known.audio_mid, known.video = remote.audio_mid, remote.video
        # A passive attendee (rooms with notify_joining): listed, publishing nothing yet.
        joining = RemotePublisher.from_janus(data.get("joining"))
        if joining is not None and joining.id != self.own_id:
            self._track(joining)
        unpublished = positive_id(data.get("unpublished"))
        if unpublished is not None and unpublished in self.remotes:
            remote = self.remotes[unpublished]
            remote.audio_mid, remote.video = None, False
            if not self.attendees_reported:
                # Without attendee reports the room never says when they leave: forget them.
                self.remotes.pop(unpublished)
        for key in ("leaving", "kicked"):
            left = positive_id(data.get(key))
            if left is not None:
                self.remotes.pop(left, None)
        after = {rid: r.participant() for rid, r in self.remotes.items()}
        if after == before:
            return RoomChange(changed=False)
        changes: list[Participant] = []
        for rid in before.keys() | after.keys():
            old, new = before.get(rid), after.get(rid)
            if new is None and old is not None and old.stream_id is not None:
                # Gone while publishing: its stream ended with it.
                new = dataclasses.replace(
                    old, is_publishing_audio=False, is_publishing_video=False, stream_id=None
                )
            flags_changed = old is None or new is None or _publishing(old) != _publishing(new)
            if new is not None and flags_changed and (old is not None or new.stream_id):
                changes.append(new)
        return RoomChange(True, changes, frozenset(before.keys() | after.keys()))

    def _track(self, remote: RemotePublisher) -> RemotePublisher | None:
        """The record for ``remote``: the known one, a new one, or None when the room is full."""
        known = self.remotes.get(remote.id)
        if known is not None:
            return known
        if len(self.remotes) >= self.max_remotes:
            self.ignored += 1
            return None
        self.remotes[remote.id] = remote
        return remote

    def others(self) -> list[Participant]:
        """The other participants, in the order they appeared."""
        return [remote.participant() for remote in self.remotes.values()]
