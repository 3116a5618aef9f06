"""The configuration's sections: frozen dataclasses whose fields are the config keys.

Field metadata states each key's rules for the loader (:mod:`.loader`): ``choices``,
``minimum``/``maximum`` (``exclusive``), ``required`` (with what the key is for),
``pattern`` and ``secret`` (masked when printed). A field whose type is a value type
(:mod:`.types`) is parsed by that type. Rules that tie several keys together are in
:mod:`.rules`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from alo_edge.config.types import Listen

#: Loopback: the status page has no auth.
DEFAULT_STATUS_LISTEN = Listen("127.0.0.1", 8787)
_CHANNEL_PATTERN = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def _choices(*values: str) -> dict[str, Any]:
    return {"choices": values}


def _at_least(minimum: float, *, exclusive: bool = False) -> dict[str, Any]:
    return {"minimum": minimum, "exclusive": exclusive}


@dataclass(frozen=True)
class DeviceConfig:
    """Who this device is in the channel."""

    user_id: str = field(
        default="",
        metadata={"required": "is required (the ALO user id this device signs in as)"},
    )
    name: str = ""
    device_id: str = ""


@dataclass(frozen=True)
class IceServerConfig:
    """One STUN/TURN server; ``credential`` is a secret and masked when printed."""

    urls: tuple[str, ...] = ()
    username: str | None = None
    credential: str | None = field(default=None, metadata={"secret": True})


@dataclass(frozen=True)
class AloConfig:
    """Where and how to reach the ALO video service."""

    token_file: str | None = None
    #: OAuth 2.0 client credentials (RFC 6749 4.4): the device fetches and renews its own
    #: short-lived tokens at token_url as client_id; the secret comes from
    #: client_secret_file or the systemd credential alo-client-secret, never from here.
    token_url: str | None = None
    client_id: str | None = None
    client_secret_file: str | None = None
    scope: str | None = None
    access_url: str | None = None
    transport: str = field(default="whip", metadata=_choices("whip", "janus"))
    url: str | None = None
    channel: str = field(
        default="",
        metadata={
            "required": "is required (the ALO video channel to publish into)",
            "pattern": (_CHANNEL_PATTERN, "1-64 letters, digits, '-' or '_'"),
        },
    )
    #: Janus: the numeric VideoRoom; unset, the channel is the room when it is a number.
    room: int | None = field(default=None, metadata={"minimum": 1})
    #: Janus: the most other participants tracked (and talk-back voices subscribed to);
    #: beyond it they are ignored, with one log line, so a crowded room cannot exhaust
    #: a small device.
    max_participants: int = field(default=16, metadata={"minimum": 1, "maximum": 256})
    ice_servers: tuple[IceServerConfig, ...] = ()

    @property
    def janus_room(self) -> int | None:
        """The VideoRoom to join: ``room``, else the channel when it is a number."""
        if self.room is not None:
            return self.room
        return int(self.channel) if self.channel.isdigit() and int(self.channel) > 0 else None


@dataclass(frozen=True)
class NetworkConfig:
    """Local network policy; ``host_addresses`` pins the ICE host candidates."""

    host_addresses: tuple[str, ...] = ()
    #: Plain http:// and ws:// (the token in the clear) to hosts other than loopback.
    allow_insecure: bool = False


@dataclass(frozen=True)
class ReconnectConfig:
    """Backoff and liveness timings, in seconds."""

    initial_delay: float = field(default=1.0, metadata=_at_least(0, exclusive=True))
    max_delay: float = field(default=30.0, metadata=_at_least(0, exclusive=True))
    multiplier: float = field(default=2.0, metadata=_at_least(1))
    #: The random share of each wait: 1 is full jitter (a fleet comes back spread out),
    #: 0 makes every wait exact (see session/backoff.py).
    jitter: float = field(default=1.0, metadata={"minimum": 0, "maximum": 1})
    stable_after: float = field(default=30.0, metadata=_at_least(0))
    liveness_timeout: float = field(default=8.0, metadata=_at_least(1))


@dataclass(frozen=True)
class VideoConfig:
    """The published video."""

    source: str = field(
        default="synthetic",
        metadata=_choices("picamera2", "v4l2", "file", "synthetic", "none"),
    )
    width: int = field(default=640, metadata={"minimum": 16, "maximum": 4096})
    height: int = field(default=480, metadata={"minimum": 16, "maximum": 4096})
    fps: int = field(default=30, metadata={"minimum": 1, "maximum": 120})
    #: picamera2's H.264 encoder: target bit/s and seconds between IDR pictures.
    bitrate: int = field(default=2_000_000, metadata={"minimum": 100_000, "maximum": 50_000_000})
    #: The rate controller never asks the encoder for less than this (bit/s).
    min_bitrate: int = field(default=100_000, metadata={"minimum": 50_000, "maximum": 50_000_000})
    keyframe_interval: float = field(default=2.0, metadata={"minimum": 0.1, "maximum": 60})
    device: str = "/dev/video0"  # v4l2
    file: str | None = None  # file: an Annex-B .h264 file, replayed at its own frame rate


@dataclass(frozen=True)
class AudioConfig:
    """The published audio."""

    source: str = field(default="synthetic", metadata=_choices("alsa", "synthetic", "none"))
    device: str = "default"  # alsa capture PCM
    rate: int = field(default=48_000, metadata={"minimum": 8_000, "maximum": 192_000})
    channels: int = field(default=1, metadata={"minimum": 1, "maximum": 2})
    #: Talk-back: play the operator's audio on the ALSA PCM playback_device.
    playback: bool = False
    playback_device: str = "default"
    #: full_duplex: the microphone is live; half_duplex: it is ducked while the speaker
    #: plays the far end (and half_duplex_hang_time after); ptt: live only while the
    #: panel button is held; muted: starts muted (a panel press can unmute).
    mode: str = field(
        default="full_duplex", metadata=_choices("full_duplex", "half_duplex", "ptt", "muted")
    )
    #: Janus talk-back: play only these participants (display names or ids); empty: everyone.
    talkback_from: tuple[str, ...] = ()
    #: The ALSA microphone's processing (WebRTC AEC3, noise suppression, AGC2). Unset:
    #: on when playback is on (the speaker is what makes the echo).
    echo_cancellation: bool | None = None
    noise_suppression: bool | None = None
    auto_gain: bool | None = None
    half_duplex_hang_time: float = field(default=0.5, metadata={"minimum": 0, "maximum": 5})
    #: Speaker/microphone self-test: at start and then every selftest_interval seconds,
    #: while nobody talks (needs source = "alsa" and playback = true).
    selftest: bool = True
    selftest_interval: float = field(default=21_600.0, metadata={"minimum": 60})

    @property
    def echo_cancellation_on(self) -> bool:
        """Echo cancellation as it runs: the key, or on when the speaker is."""
        return self.playback if self.echo_cancellation is None else self.echo_cancellation

    @property
    def noise_suppression_on(self) -> bool:
        """Noise suppression as it runs: the key, or on when the speaker is."""
        return self.playback if self.noise_suppression is None else self.noise_suppression

    @property
    def auto_gain_on(self) -> bool:
        """Automatic gain as it runs: the key, or on when the speaker is."""
        return self.playback if self.auto_gain is None else self.auto_gain


#: What a panel button gesture can do (see alo_edge.panel.actions).
PANEL_ACTIONS = ("toggle_mute", "push_to_talk", "reconnect", "restart", "none")
_BCM_PIN = {"minimum": 0, "maximum": 27}


@dataclass(frozen=True)
class GpioConfig:
    """The panel: status LEDs and a button on the GPIO header (BCM pin numbers)."""

    enabled: bool = False
    #: "auto" is lgpio on a Raspberry Pi; "mock" is gpiozero's virtual pins (no hardware).
    pin_factory: str = field(
        default="auto", metadata=_choices("auto", "mock", "lgpio", "rpigpio", "pigpio", "native")
    )
    status_led: int | None = field(default=None, metadata=_BCM_PIN)
    rgb_led: tuple[int, ...] = field(default=(), metadata=_BCM_PIN)  # red, green, blue
    mic_led: int | None = field(default=None, metadata=_BCM_PIN)
    button: int | None = field(default=None, metadata=_BCM_PIN)
    active_high: bool = True  # LEDs: true when a high pin lights them
    pull_up: bool = True  # button: true when it connects the pin to ground
    bounce_time: float = field(default=0.05, metadata={"minimum": 0, "maximum": 1})
    hold_seconds: float = field(default=2.0, metadata=_at_least(0, exclusive=True))
    long_hold_seconds: float = field(default=10.0, metadata=_at_least(0, exclusive=True))
    #: "auto": toggle_mute, or push_to_talk when audio.mode = "ptt".
    on_press: str = field(default="auto", metadata=_choices("auto", *PANEL_ACTIONS))
    on_hold: str = field(default="reconnect", metadata=_choices(*PANEL_ACTIONS))
    on_long_hold: str = field(default="restart", metadata=_choices(*PANEL_ACTIONS))


@dataclass(frozen=True)
class StatusConfig:
    """The local status endpoint (``GET /status``, ``GET /metrics``); it has no auth."""

    #: HOST:PORT to listen on; loopback by default, an empty string turns it off.
    listen: Listen = DEFAULT_STATUS_LISTEN


@dataclass(frozen=True)
class LogConfig:
    """How the service logs."""

    level: str = field(default="info", metadata=_choices("debug", "info", "warning", "error"))
    format: str = field(default="auto", metadata=_choices("auto", "journal", "text", "json"))


@dataclass(frozen=True)
class Config:
    """The whole validated configuration."""

    device: DeviceConfig = DeviceConfig()
    alo: AloConfig = AloConfig()
    network: NetworkConfig = NetworkConfig()
    reconnect: ReconnectConfig = ReconnectConfig()
    video: VideoConfig = VideoConfig()
    audio: AudioConfig = AudioConfig()
    gpio: GpioConfig = GpioConfig()
    status: StatusConfig = StatusConfig()
    log: LogConfig = LogConfig()
