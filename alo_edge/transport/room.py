"""The room model a multi-party transport reports: participants and their remote streams.

WHIP publishes into a channel and learns nothing about who else is there; a Janus
VideoRoom tells its members who joins, publishes, unpublishes and leaves. The
transport turns that into :class:`Participant` values and hands them, with the
talk-back audio tracks it subscribed to, to a :class:`RoomListener` (``AloVideo``
turns those calls into ``onParticipantsChanged`` / ``onPublishedStreamChange``
events and plays the audio).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from aiortc.mediastreams import MediaStreamTrack


@dataclass(frozen=True)
class Participant:
    """One member of the room, as ALO's SDK describes a participant.

    ``id`` is the server's participant id (Janus's publisher id, as text); a remote
    participant's published stream is known by ``stream_id`` (Janus's feed id), None
    while it publishes nothing. Janus carries a display name but no user id, so a
    remote participant's ``user_id`` is its display name.
    """

    id: str
    user_id: str
    name: str
    is_publishing_audio: bool = False
    is_publishing_video: bool = False
    is_current_user: bool = False
    stream_id: str | None = None
    #: Talk-back from this participant is muted on this device only (see AloVideo).
    is_muted_locally: bool = False

    def to_dict(self) -> dict[str, Any]:
        """The participant as ALO's event payloads carry it (camelCase keys)."""
        return {
            "id": self.id,
            "userId": self.user_id,
            "name": self.name,
            "isPublishingAudio": self.is_publishing_audio,
            "isPublishingVideo": self.is_publishing_video,
            "isCurrentUser": self.is_current_user,
            "streamId": self.stream_id,
            "isMutedLocally": self.is_muted_locally,
        }


def _ignore(*_: Any) -> None:
    return None


@dataclass(frozen=True)
class RoomListener:
    """Where a transport reports the room; every callback runs on the event loop.

    - ``participants_changed(participants)``: the whole current list (this device
      first), on every join, leave, publish and unpublish; an empty list once the
      connection has left the room;
    - ``remote_stream_changed(participant)``: a remote participant started or stopped
      publishing (its ``is_publishing_*`` flags say which);
    - ``remote_audio(participant_id, track)``: talk-back audio from that participant
      is now ``track``; ``None`` when it ended (unpublished, left, connection closed).
    """

    participants_changed: Callable[[Sequence[Participant]], None] = field(default=_ignore)
    remote_stream_changed: Callable[[Participant], None] = field(default=_ignore)
    remote_audio: Callable[[str, MediaStreamTrack | None], None] = field(default=_ignore)
