"""Rules that tie several config keys together, each a small named function.

A single key's shape is its field's business (metadata, value types); what is here
needs two keys or more to decide. :func:`check_rules` runs them in order; the first
broken rule raises a ConfigError naming the key to change.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from alo_edge.config.sections import Config
from alo_edge.errors import ConfigError
from alo_edge.urls import plain_url_problem

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


def _endpoint(config: Config) -> None:
    alo = config.alo
    if not alo.access_url and not alo.url:
        raise ConfigError(
            "is required when alo.access_url is not set (the WHIP endpoint to publish to)",
            key="alo.url",
        )
    janus = alo.transport == "janus"
    if janus and alo.url and not alo.url.startswith(("ws://", "wss://")):
        raise ConfigError(
            f"expected a ws:// or wss:// URL (Janus's WebSocket API), got {alo.url!r}",
            key="alo.url",
        )
    if janus and not alo.access_url and alo.janus_room is None:
        raise ConfigError(
            f"is required: alo.channel {alo.channel!r} is not a Janus room number",
            key="alo.room",
        )
    urls: list[tuple[str, str | None]] = [("alo.access_url", alo.access_url)]
    if not janus:
        urls.insert(0, ("alo.url", alo.url))
    for key, url in urls:
        if url and not url.startswith(("http://", "https://")):
            raise ConfigError(f"expected an http:// or https:// URL, got {url!r}", key=key)


def _token_urls(config: Config) -> None:
    """The token travels to these URLs: no credentials of their own, and in the clear only
    to loopback unless allowed (network.allow_insecure)."""
    allow = config.network.allow_insecure
    for key, url in (
        ("alo.access_url", config.alo.access_url),
        ("alo.url", config.alo.url),
        ("alo.token_url", config.alo.token_url),
    ):
        problem = plain_url_problem(url, allow_insecure=allow) if url else None
        if problem:
            raise ConfigError(problem, key=key)


def _credentials(config: Config) -> None:
    """A token file, or client credentials at a token endpoint: one way, stated whole."""
    alo = config.alo
    if alo.token_url is None:
        grant_keys = {
            "client_id": alo.client_id,
            "client_secret_file": alo.client_secret_file,
            "scope": alo.scope,
        }
        for key, value in grant_keys.items():
            if value is not None:
                raise ConfigError(
                    "needs alo.token_url (the OAuth 2.0 token endpoint)", key=f"alo.{key}"
                )
        return
    if alo.token_file is not None:
        raise ConfigError(
            "and alo.token_url are both set: use a token file or client credentials, not both",
            key="alo.token_file",
        )
    if not alo.token_url.startswith(("http://", "https://")):
        raise ConfigError(
            f"expected an http:// or https:// URL, got {alo.token_url!r}", key="alo.token_url"
        )
    if not alo.client_id:
        raise ConfigError(
            "is required with alo.token_url (the client id the operator issued)",
            key="alo.client_id",
        )
    for key, value in (("client_id", alo.client_id), ("scope", alo.scope)):
        if value is not None and (not value.isprintable() or not value.strip()):
            raise ConfigError("expected printable text", key=f"alo.{key}")


def _ice_servers(config: Config) -> None:
    for i, server in enumerate(config.alo.ice_servers):
        problem = ice_url_problem(server.urls)
        if problem:
            raise ConfigError(problem, key=f"alo.ice_servers[{i}].urls")


def _backoff(config: Config) -> None:
    reconnect = config.reconnect
    if reconnect.max_delay < reconnect.initial_delay:
        raise ConfigError(
            f"must be at least reconnect.initial_delay ({reconnect.initial_delay})",
            key="reconnect.max_delay",
        )


def _media(config: Config) -> None:
    if config.video.source == "file" and not config.video.file:
        raise ConfigError(
            "is required when video.source = 'file' (an Annex-B .h264 file)", key="video.file"
        )
    if config.video.source == "none" and config.audio.source == "none":
        raise ConfigError(
            "video.source and audio.source are both 'none': there is nothing to publish",
            key="video.source",
        )


def _gpio_pins(config: Config) -> None:
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


def _gpio_gestures(config: Config) -> None:
    gpio = config.gpio
    if gpio.long_hold_seconds <= gpio.hold_seconds:
        raise ConfigError(
            f"must be longer than gpio.hold_seconds ({gpio.hold_seconds})",
            key="gpio.long_hold_seconds",
        )
    for key, action in (("on_hold", gpio.on_hold), ("on_long_hold", gpio.on_long_hold)):
        if action == "push_to_talk":
            raise ConfigError("push_to_talk is only a press action", key=f"gpio.{key}")


def _push_to_talk(config: Config) -> None:
    gpio = config.gpio
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


def _audio_processing(config: Config) -> None:
    audio = config.audio
    if audio.mode == "half_duplex" and not audio.playback:
        raise ConfigError(
            "'half_duplex' ducks the microphone while the speaker plays: "
            "it needs audio.playback = true",
            key="audio.mode",
        )
    if audio.echo_cancellation and not audio.playback:
        raise ConfigError(
            "is true but audio.playback is false: the speaker's audio is the echo's reference",
            key="audio.echo_cancellation",
        )


#: Every cross-key rule, in the order a person reads the config file.
RULES: tuple[Callable[[Config], None], ...] = (
    _endpoint,
    _credentials,
    _token_urls,
    _ice_servers,
    _backoff,
    _media,
    _audio_processing,
    _gpio_pins,
    _gpio_gestures,
    _push_to_talk,
)


def check_rules(config: Config) -> None:
    """Raise ConfigError for the first rule ``config`` breaks."""
    for rule in RULES:
        rule(config)
