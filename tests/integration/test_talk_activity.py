"""talk.active on real talk-back audio: an aiortc far end speaks (a tone), then goes silent.

The update path waits for ``talk.active`` to be false; it must see the far end's voice
through Opus as aiortc decodes it, and not the silence a browser sends while its talk
button is up.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any, cast

import av
from aiortc import RTCPeerConnection

from alo_edge.media.synthetic import ToneTrack
from alo_edge.media.talkback import TalkbackPlayer
from alo_edge.session.view import SessionView
from alo_edge.system.conversation import TALK_HANGOVER_SECONDS, Conversation
from alo_edge.transport.ice import pin_host_addresses, rtc_configuration


class Speaker:
    """An AudioSink that keeps nothing (the ALSA tests cover real playback)."""

    async def start(self) -> None:
        return None

    def write(self, frame: av.AudioFrame) -> None:
        return None

    def stop(self) -> None:
        return None


class Session:
    """What Conversation reads of a session, CONNECTED with the microphone muted."""

    def __init__(self, talkback: TalkbackPlayer) -> None:
        self.talkback = talkback
        self.connection_state = "CONNECTED"
        self.muted = True
        self.published_sources: list[Any] = []


async def wait_for(condition: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.05)


async def test_talk_is_active_while_the_far_end_speaks_and_not_in_its_silence() -> None:
    pin_host_addresses(["127.0.0.1"])
    voice = ToneTrack(400.0, level=0.1)  # about -20 dBFS: a voice, not room noise
    far_end = RTCPeerConnection(configuration=rtc_configuration([]))
    device = RTCPeerConnection(configuration=rtc_configuration([]))
    remote = asyncio.get_running_loop().create_future()
    device.on("track", remote.set_result)
    player = TalkbackPlayer(Speaker())
    now = [0.0]
    conversation = Conversation("full_duplex", clock=lambda: now[0])
    await conversation.start(cast(SessionView, Session(player)))
    try:
        far_end.addTrack(voice)
        await far_end.setLocalDescription(await far_end.createOffer())
        await device.setRemoteDescription(far_end.localDescription)
        await device.setLocalDescription(await device.createAnswer())
        await far_end.setRemoteDescription(device.localDescription)
        player.play(await asyncio.wait_for(remote, 10))

        await wait_for(lambda: player.last_voice_at is not None, 10, "the far end's voice")
        now[0] = time.monotonic()
        speaking = conversation.status()

        voice.muted = True  # the talk button is up: silence keeps flowing
        await wait_for(lambda: time.monotonic() - (player.last_voice_at or 0) > 1.0, 10,
                       "a second of silence after the voice")  # fmt: skip
        frames_in_silence = player.frames_played
        await wait_for(lambda: player.frames_played >= frames_in_silence + 25, 10, "more silence")
        last_voice = player.last_voice_at
        assert last_voice is not None
        now[0] = last_voice + TALK_HANGOVER_SECONDS - 1
        pausing = conversation.status()
        now[0] = last_voice + TALK_HANGOVER_SECONDS + 1
        quiet = conversation.status()
    finally:
        await player.stop()
        await conversation.stop()
        await far_end.close()
        await device.close()

    assert speaking["active"] is True
    assert speaking["reason"].startswith("the far end spoke")
    assert pausing["active"] is True  # a pause inside one conversation
    assert quiet == {"active": False, "reason": "nobody is talking", "voiceSecondsAgo": 16.0}
