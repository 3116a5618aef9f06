"""Configuration: TOML -> frozen dataclasses, validated key by key.

Layers: the package defaults below, then the TOML file. Every error names the key
path and what was expected (and the closest valid key for a typo), so a person
reading ``journalctl`` knows what to fix. The token itself is never part of the
config, only where to read it from.
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import re
import tomllib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from alo_edge.errors import ConfigError

_CHANNEL_PATTERN = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def _choices(*values: str) -> dict[str, Any]:
    return {"choices": values}


def _at_least(minimum: float, *, exclusive: bool = False) -> dict[str, Any]:
    return {"minimum": minimum, "exclusive": exclusive}


@dataclass(frozen=True)
class DeviceConfig:
    """Who this device is in the channel."""

    user_id: str = ""
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
    access_url: str | None = None
    transport: str = field(default="whip", metadata=_choices("whip", "janus"))
    url: str | None = None
    channel: str = ""
    #: Janus: the numeric VideoRoom; unset, the channel is the room when it is a number.
    room: int | None = field(default=None, metadata={"minimum": 1})
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


@dataclass(frozen=True)
class ReconnectConfig:
    """Backoff and liveness timings, in seconds."""

    initial_delay: float = field(default=1.0, metadata=_at_least(0, exclusive=True))
    max_delay: float = field(default=30.0, metadata=_at_least(0, exclusive=True))
    multiplier: float = field(default=2.0, metadata=_at_least(1))
    jitter: float = field(default=0.2, metadata={"minimum": 0, "maximum": 1})
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
    #: full_duplex: the microphone is live; ptt: live only while the panel button is held;
    #: muted: starts muted (a panel press can unmute).
    mode: str = field(default="full_duplex", metadata=_choices("full_duplex", "ptt", "muted"))
    #: Janus talk-back: play only these participants (display names or ids); empty: everyone.
    talkback_from: tuple[str, ...] = ()


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
    listen: str = "127.0.0.1:8787"


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

    @property
    def user_dict(self) -> dict[str, str]:
        """The device's user as the SDK's events carry it."""
        return {"id": self.device.user_id, "name": self.device.name}


def load_config(path: str | Path) -> Config:
    """Read and validate a TOML file; raise ConfigError naming the file and the key."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"config file {path} does not exist") from None
    except OSError as exc:
        raise ConfigError(f"config file {path} cannot be read: {exc.strerror}") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}") from None
    return config_from_dict(data)


def config_from_dict(data: dict[str, Any]) -> Config:
    """Validate a parsed TOML document into a Config."""
    config: Config = _build(Config, data, "")
    _check_consistency(config)
    if not config.device.name:
        # A person reading the lab or the participant list needs some name; the id is one.
        config = dataclasses.replace(
            config, device=dataclasses.replace(config.device, name=config.device.user_id)
        )
    return config


def _check_consistency(config: Config) -> None:
    if not config.device.user_id:
        raise ConfigError(
            "is required (the ALO user id this device signs in as)", key="device.user_id"
        )
    if not config.alo.channel:
        raise ConfigError("is required (the ALO video channel to publish into)", key="alo.channel")
    if not _CHANNEL_PATTERN.match(config.alo.channel):
        raise ConfigError(
            f"expected 1-64 letters, digits, '-' or '_', got {config.alo.channel!r}",
            key="alo.channel",
        )
    if not config.alo.access_url and not config.alo.url:
        raise ConfigError(
            "is required when alo.access_url is not set (the WHIP endpoint to publish to)",
            key="alo.url",
        )
    janus = config.alo.transport == "janus"
    if janus and config.alo.url and not config.alo.url.startswith(("ws://", "wss://")):
        raise ConfigError(
            f"expected a ws:// or wss:// URL (Janus's WebSocket API), got {config.alo.url!r}",
            key="alo.url",
        )
    if janus and not config.alo.access_url and config.alo.janus_room is None:
        raise ConfigError(
            f"is required: alo.channel {config.alo.channel!r} is not a Janus room number",
            key="alo.room",
        )
    urls: list[tuple[str, str | None]] = [("alo.access_url", config.alo.access_url)]
    if not janus:
        urls.insert(0, ("alo.url", config.alo.url))
    for key, url in urls:
        if url and not url.startswith(("http://", "https://")):
            raise ConfigError(f"expected an http:// or https:// URL, got {url!r}", key=key)
    for i, server in enumerate(config.alo.ice_servers):
        problem = ice_url_problem(server.urls)
        if problem:
            raise ConfigError(problem, key=f"alo.ice_servers[{i}].urls")
    if config.reconnect.max_delay < config.reconnect.initial_delay:
        raise ConfigError(
            f"must be at least reconnect.initial_delay ({config.reconnect.initial_delay})",
            key="reconnect.max_delay",
        )
    if config.video.source == "file" and not config.video.file:
        raise ConfigError(
            "is required when video.source = 'file' (an Annex-B .h264 file)", key="video.file"
        )
    if config.video.source == "none" and config.audio.source == "none":
        raise ConfigError(
            "video.source and audio.source are both 'none': there is nothing to publish",
            key="video.source",
        )
    _check_gpio(config)
    listen = config.status.listen
    host, _, port = listen.rpartition(":")
    if listen and (not host or not port.isdigit() or int(port) > 65535):
        raise ConfigError(
            f"expected HOST:PORT (e.g. '127.0.0.1:8787') or '' to turn it off, got {listen!r}",
            key="status.listen",
        )


def _check_gpio(config: Config) -> None:
    gpio = config.gpio
    if gpio.rgb_led and len(gpio.rgb_led) != 3:
        raise ConfigError(
            f"expected three pins (red, green, blue), got {len(gpio.rgb_led)}", key="gpio.rgb_led"
        )
    owners: dict[int, str] = {}
    roles = [("gpio.status_led", gpio.status_led), ("gpio.mic_led", gpio.mic_led)]
    roles += [(f"gpio.rgb_led[{i}]", pin) for i, pin in enumerate(gpio.rgb_led)]
    roles.append(("gpio.button", gpio.button))
    for key, pin in roles:
        if pin is None:
            continue
        if pin in owners:
            raise ConfigError(f"GPIO{pin} is already used by {owners[pin]}", key=key)
        owners[pin] = key
    if gpio.enabled and not owners:
        raise ConfigError(
            "is true but no pin is set (status_led, rgb_led, mic_led or button)", key="gpio.enabled"
        )
    if gpio.long_hold_seconds <= gpio.hold_seconds:
        raise ConfigError(
            f"must be longer than gpio.hold_seconds ({gpio.hold_seconds})",
            key="gpio.long_hold_seconds",
        )
    for key in ("on_hold", "on_long_hold"):
        if getattr(gpio, key) == "push_to_talk":
            raise ConfigError("push_to_talk is only a press action", key=f"gpio.{key}")
    ptt = config.audio.mode == "ptt"
    if ptt and not (gpio.enabled and gpio.button is not None):
        raise ConfigError(
            "'ptt' needs the panel button: set gpio.enabled = true and gpio.button",
            key="audio.mode",
        )
    if ptt and gpio.on_press not in ("auto", "push_to_talk"):
        raise ConfigError(
            f"must be 'auto' or 'push_to_talk' when audio.mode = 'ptt', got {gpio.on_press!r}",
            key="gpio.on_press",
        )
    if gpio.on_press == "push_to_talk" and not ptt:
        raise ConfigError("'push_to_talk' needs audio.mode = 'ptt'", key="gpio.on_press")


ICE_URL_SCHEMES = ("stun:", "turn:", "turns:")


def ice_url_problem(urls: Any) -> str | None:
    """What is wrong with an ICE server's ``urls`` (None when nothing is)."""
    if isinstance(urls, str):
        urls = [urls]
    if not isinstance(urls, list | tuple) or not urls or not all(isinstance(u, str) for u in urls):
        return "expected a string or a non-empty list of strings"
    for url in urls:
        if not url.startswith(ICE_URL_SCHEMES):
            return f"expected a stun:, turn: or turns: URL, got {url!r}"
    return None


def _build(cls: type[Any], data: Any, path: str) -> Any:
    if not isinstance(data, dict):
        raise ConfigError(f"expected a table, got {_describe(data)}", key=path or "(top level)")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    for key in data:
        if key not in fields:
            where = f"{path}.{key}" if path else key
            close = difflib.get_close_matches(key, list(fields), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            kind = "key" if path else "section"
            raise ConfigError(f"unknown {kind}{hint}; valid: {', '.join(fields)}", key=where)
    values: dict[str, Any] = {}
    for name, f in fields.items():
        if name in data:
            where = f"{path}.{name}" if path else name
            values[name] = _convert(hints[name], data[name], where, f.metadata)
    return cls(**values)


def _convert(hint: Any, value: Any, where: str, metadata: Any) -> Any:
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (types.UnionType, typing.Union):
        (inner,) = [a for a in args if a is not type(None)]
        return _convert(inner, value, where, metadata)
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        return _build(hint, value, where)
    if origin is tuple:
        if not isinstance(value, list):
            raise ConfigError(f"expected a list, got {_describe(value)}", key=where)
        # Per-item rules (a pin range, choices) apply to each element.
        items = enumerate(value)
        return tuple(_convert(args[0], item, f"{where}[{i}]", metadata) for i, item in items)
    if hint is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"expected true or false, got {_describe(value)}", key=where)
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"expected an integer, got {_describe(value)}", key=where)
        _check_range(value, where, metadata)
        return value
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"expected a number, got {_describe(value)}", key=where)
        _check_range(value, where, metadata)
        return float(value)
    if hint is str:
        if not isinstance(value, str):
            raise ConfigError(f"expected a string, got {_describe(value)}", key=where)
        choices = metadata.get("choices")
        if choices and value not in choices:
            valid = ", ".join(repr(c) for c in choices)
            raise ConfigError(f"expected one of {valid}, got {value!r}", key=where)
        return value
    raise TypeError(f"config field type {hint!r} is not supported")  # a bug here, not bad input


def _check_range(value: float, where: str, metadata: Any) -> None:
    minimum = metadata.get("minimum")
    maximum = metadata.get("maximum")
    if minimum is not None:
        if metadata.get("exclusive") and value <= minimum:
            raise ConfigError(f"expected a number greater than {minimum}, got {value}", key=where)
        if value < minimum:
            raise ConfigError(f"expected at least {minimum}, got {value}", key=where)
    if maximum is not None and value > maximum:
        raise ConfigError(f"expected at most {maximum}, got {value}", key=where)


def _describe(value: Any) -> str:
    kind = {bool: "a boolean", int: "an integer", float: "a number", str: "a string"}.get(
        type(value), "a table" if isinstance(value, dict) else "a list"
    )
    return f"{kind} ({json.dumps(value, default=str)[:40]})"


def render_config(config: Config) -> str:
    """The effective config as TOML, with every secret masked, for `alo-edge config`."""
    lines: list[str] = []
    for section in dataclasses.fields(config):
        value = getattr(config, section.name)
        lines.append(f"[{section.name}]")
        for f in dataclasses.fields(value):
            item = getattr(value, f.name)
            if f.name == "ice_servers":
                continue
            if item is None:
                lines.append(f"# {f.name} is not set")
                continue
            lines.append(f"{f.name} = {_toml_value(item)}")
        for server in getattr(value, "ice_servers", ()):
            lines.append("")
            lines.append(f"[[{section.name}.ice_servers]]")
            for f in dataclasses.fields(server):
                item = getattr(server, f.name)
                if item is None:
                    continue
                lines.append(
                    f"{f.name} = {_toml_value(item, secret=bool(f.metadata.get('secret')))}"
                )
        lines.append("")
    return "\n".join(lines)


def _toml_value(value: Any, *, secret: bool = False) -> str:
    if secret:
        return '"********"'
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, tuple):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, str):
        return json.dumps(value)
    return repr(value)
