"""Is someone talking through the device right now? (``/status`` ``talk``)

An update restarts the service, which cuts a conversation at the door. The installer
switches releases only while this says nobody is talking. "Talking" is defined as:

- the session is CONNECTED, and
- the far end's voice (talk-back audio louder than -40 dBFS, not the silence a browser
  sends while its talk button is up) reached the speaker within the last
  :data:`TALK_HANGOVER_SECONDS`, or
- in push-to-talk mode (``audio.mode = "ptt"``), the microphone is open: the button is held.

A full-duplex microphone is always open, so it alone does not count: the door hears
noise all day, and an update would never find a quiet moment.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from prometheus_client.core import GaugeMetricFamily, Metric

from alo_edge.session.states import ConnectionState
from alo_edge.session.view import SessionView

#: A pause in the far end's speech shorter than this is still one conversation.
TALK_HANGOVER_SECONDS = 15.0


@dataclass(frozen=True)
class TalkState:
    """The answer, and why."""

    active: bool
    reason: str
    voice_seconds_ago: float | None = None


def talk_state(
    *,
    connected: bool,
    push_to_talk: bool,
    mic_open: bool,
    last_voice_at: float | None,
    now: float,
    hangover: float = TALK_HANGOVER_SECONDS,
) -> TalkState:
    """Decide whether a conversation is going on (pure)."""
    ago = None if last_voice_at is None else max(now - last_voice_at, 0.0)
    if not connected:
        return TalkState(False, "not connected", ago)
    if push_to_talk and mic_open:
        return TalkState(True, "push-to-talk is held", ago)
    if ago is not None and ago <= hangover:
        return TalkState(True, f"the far end spoke {ago:.0f} s ago", ago)
    return TalkState(False, "nobody is talking", ago)


class Conversation:
    """Reports :func:`talk_state` of the live session; a StatusSection and a SessionComponent."""

    def __init__(self, audio_mode: str, clock: Callable[[], float] = time.monotonic) -> None:
        self._push_to_talk = audio_mode == "ptt"
        self._clock = clock
        self._session: SessionView | None = None

    async def start(self, session: SessionView) -> None:
        self._session = session

    async def stop(self) -> None:
        self._session = None

    def state(self) -> TalkState:
        session = self._session
        if session is None:
            return TalkState(False, "not running")
        talkback = session.talkback
        return talk_state(
            connected=session.connection_state == ConnectionState.CONNECTED,
            push_to_talk=self._push_to_talk,
            mic_open=not session.muted
            and any(source.kind == "audio" for source in session.published_sources),
            last_voice_at=talkback.last_voice_at if talkback is not None else None,
            now=self._clock(),
        )

    @property
    def status_key(self) -> str:
        return "talk"

    def status(self) -> dict[str, Any]:
        state = self.state()
        ago = state.voice_seconds_ago
        return {
            "active": state.active,
            "reason": state.reason,
            "voiceSecondsAgo": None if ago is None else round(ago, 1),
        }

    def metrics(self) -> Iterable[Metric]:
        """``alo_edge_talk_active``: 1 while a conversation goes on."""
        yield GaugeMetricFamily(
            "alo_edge_talk_active",
            "1 while someone talks through the device (updates wait for 0)",
            value=int(self.state().active),
        )
