"""Configuration: TOML to validated dataclasses; every error names the key path."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import pytest

from alo_edge.config import (
    AloConfig,
    Config,
    ConfigError,
    IceServerConfig,
    config_from_dict,
    load_config,
    render_config,
)

CONFIG_DIR = Path(__file__).resolve().parents[2] / "config"
EXAMPLES = sorted({CONFIG_DIR / "example.toml", *CONFIG_DIR.glob("*.toml")})


def minimal(**sections: dict[str, Any]) -> dict[str, Any]:
    """The smallest valid document, with ``sections`` merged over it."""
    data: dict[str, Any] = {
        "device": {"user_id": "door-1"},
        "alo": {"url": "https://alo.example.net/whip/front", "channel": "front"},
    }
    for name, values in sections.items():
        data[name] = {**data.get(name, {}), **values}
    return data


def error_for(data: dict[str, Any]) -> str:
    with pytest.raises(ConfigError) as caught:
        config_from_dict(data)
    return str(caught.value)


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_shipped_example_configs_load(path: Path) -> None:
    assert isinstance(load_config(path), Config)


def test_minimal_config_gets_the_documented_defaults() -> None:
    config = config_from_dict(minimal())
    r = config.reconnect
    assert (r.initial_delay, r.max_delay, r.multiplier, r.jitter) == (1.0, 30.0, 2.0, 1.0)
    assert (r.stable_after, r.liveness_timeout) == (30.0, 8.0)
    assert config.alo.transport == "whip"
    assert config.alo.token_file is None
    assert config.alo.access_url is None
    assert config.alo.ice_servers == ()
    assert config.network.host_addresses == ()
    assert (config.video.source, config.video.width, config.video.height) == ("synthetic", 640, 480)
    assert config.video.fps == 30
    assert config.audio.source == "synthetic"
    assert (config.log.level, config.log.format) == ("info", "auto")


def test_device_name_defaults_to_the_user_id() -> None:
    assert config_from_dict(minimal()).device.name == "door-1"
    named = config_from_dict(minimal(device={"name": "Front door"}))
    assert named.device.name == "Front door"


def test_integers_are_accepted_for_seconds() -> None:
    config = config_from_dict(minimal(reconnect={"initial_delay": 2, "max_delay": 60}))
    assert (config.reconnect.initial_delay, config.reconnect.max_delay) == (2.0, 60.0)
    assert isinstance(config.reconnect.initial_delay, float)


def test_ice_servers_load_as_a_list_of_tables() -> None:
    config = config_from_dict(
        minimal(
            alo={
                "ice_servers": [
                    {"urls": ["stun:stun.example.net"]},
                    {"urls": ["turn:turn.example.net"], "username": "u", "credential": "c"},
                ]
            }
        )
    )
    assert config.alo.ice_servers == (
        IceServerConfig(urls=("stun:stun.example.net",)),
        IceServerConfig(urls=("turn:turn.example.net",), username="u", credential="c"),
    )


def test_config_is_frozen() -> None:
    config = config_from_dict(minimal())
    with pytest.raises(AttributeError):
        config.alo.channel = "other"  # type: ignore[misc]


def test_unknown_key_names_its_path_and_suggests_the_closest_key() -> None:
    data = minimal()
    data["alo"]["chanel"] = "front"
    message = error_for(data)
    assert message.startswith("alo.chanel: unknown key")
    assert "did you mean 'channel'" in message


def test_unknown_section_is_named_and_the_closest_section_suggested() -> None:
    message = error_for({**minimal(), "reconect": {"max_delay": 10}})
    assert message.startswith("reconect: unknown section")
    assert "did you mean 'reconnect'" in message


def test_unknown_key_without_a_close_match_lists_the_valid_keys() -> None:
    message = error_for(minimal(video={"zzz": 1}))
    assert message.startswith("video.zzz: unknown key")
    assert "did you mean" not in message
    assert "valid: source, " in message


def test_section_that_is_not_a_table_is_named() -> None:
    assert error_for({**minimal(), "log": "debug"}).startswith("log: expected a table")


def test_wrong_type_names_the_path_and_the_expected_type() -> None:
    message = error_for(minimal(reconnect={"initial_delay": "fast"}))
    assert message == 'reconnect.initial_delay: expected a number, got a string ("fast")'


@pytest.mark.parametrize(
    ("section", "key", "expected"),
    [
        ("reconnect", "max_delay", "expected a number, got a boolean"),
        ("video", "width", "expected an integer, got a boolean"),
    ],
)
def test_a_boolean_is_not_accepted_as_a_number(section: str, key: str, expected: str) -> None:
    message = error_for(minimal(**{section: {key: True}}))
    assert message.startswith(f"{section}.{key}: {expected}")


def test_a_fraction_is_not_accepted_where_an_integer_is_expected() -> None:
    assert error_for(minimal(video={"fps": 29.97})).startswith(
        "video.fps: expected an integer, got a number"
    )


def test_a_string_is_not_accepted_where_a_list_is_expected() -> None:
    message = error_for(minimal(network={"host_addresses": "127.0.0.1"}))
    assert message.startswith("network.host_addresses: expected a list, got a string")


def test_a_wrong_item_in_a_list_is_named_by_its_index() -> None:
    message = error_for(minimal(alo={"ice_servers": [{"urls": ["stun:a"]}, {"urls": [3]}]}))
    assert message.startswith("alo.ice_servers[1].urls[0]: expected a string, got an integer")


@pytest.mark.parametrize(
    ("section", "key", "value", "expected"),
    [
        ("reconnect", "initial_delay", 0, "expected a number greater than 0, got 0"),
        ("reconnect", "max_delay", -5, "expected a number greater than 0, got -5"),
        ("reconnect", "multiplier", 0.5, "expected at least 1, got 0.5"),
        ("reconnect", "jitter", 1.5, "expected at most 1, got 1.5"),
        ("reconnect", "jitter", -0.1, "expected at least 0, got -0.1"),
        ("reconnect", "liveness_timeout", 0.5, "expected at least 1, got 0.5"),
        ("video", "width", 8, "expected at least 16, got 8"),
        ("video", "height", 5000, "expected at most 4096, got 5000"),
        ("video", "fps", 0, "expected at least 1, got 0"),
    ],
)
def test_out_of_range_values_name_the_path_and_the_bound(
    section: str, key: str, value: float, expected: str
) -> None:
    assert error_for(minimal(**{section: {key: value}})) == f"{section}.{key}: {expected}"


def test_range_bounds_themselves_are_accepted() -> None:
    config = config_from_dict(
        minimal(reconnect={"jitter": 0, "multiplier": 1, "liveness_timeout": 1, "stable_after": 0})
    )
    assert config.reconnect.jitter == 0.0
    assert config_from_dict(minimal(reconnect={"jitter": 1})).reconnect.jitter == 1.0


@pytest.mark.parametrize(
    ("section", "key", "value", "choices"),
    [
        ("video", "source", "webcam", ["synthetic", "none"]),
        ("audio", "source", "mic", ["synthetic", "none"]),
        ("alo", "transport", "sip", ["whip"]),
        ("log", "level", "verbose", ["debug", "info", "warning", "error"]),
        ("log", "format", "xml", ["auto", "text", "json"]),
    ],
)
def test_enum_values_outside_the_choices_list_the_choices(
    section: str, key: str, value: str, choices: list[str]
) -> None:
    message = error_for(minimal(**{section: {key: value}}))
    assert message.startswith(f"{section}.{key}: expected one of ")
    assert message.endswith(f"got {value!r}")
    for choice in choices:
        assert repr(choice) in message


@pytest.mark.parametrize(
    ("section", "key", "value"),
    [("video", "source", "none"), ("log", "level", "debug"), ("log", "format", "json")],
)
def test_enum_values_inside_the_choices_are_accepted(section: str, key: str, value: str) -> None:
    assert getattr(getattr(config_from_dict(minimal(**{section: {key: value}})), section), key) == (
        value
    )


def test_missing_user_id_is_named() -> None:
    data = minimal()
    del data["device"]["user_id"]
    assert error_for(data).startswith("device.user_id: is required")


def test_missing_channel_is_named() -> None:
    data = minimal()
    del data["alo"]["channel"]
    assert error_for(data).startswith("alo.channel: is required")


@pytest.mark.parametrize("channel", ["front door", "a/b", "x" * 65, "kanal-ä"])
def test_channel_with_characters_alo_does_not_allow_is_refused(channel: str) -> None:
    message = error_for(minimal(alo={"channel": channel}))
    assert message.startswith("alo.channel: expected 1-64 letters, digits, '-' or '_'")


def test_neither_url_nor_access_url_names_alo_url() -> None:
    data = minimal()
    del data["alo"]["url"]
    assert error_for(data).startswith("alo.url: is required when alo.access_url is not set")


def test_access_url_alone_is_enough() -> None:
    data = minimal(alo={"access_url": "https://alo.example.net/v1/video/access"})
    del data["alo"]["url"]
    assert config_from_dict(data).alo.access_url == "https://alo.example.net/v1/video/access"


@pytest.mark.parametrize(
    ("key", "url"),
    [("url", "ftp://alo.example.net/whip"), ("access_url", "alo.example.net/v1/video/access")],
)
def test_non_http_urls_are_refused_naming_the_key(key: str, url: str) -> None:
    message = error_for(minimal(alo={key: url}))
    assert message == f"alo.{key}: expected an http:// or https:// URL, got {url!r}"


def test_max_delay_below_initial_delay_is_refused() -> None:
    message = error_for(minimal(reconnect={"initial_delay": 10, "max_delay": 5}))
    assert message == "reconnect.max_delay: must be at least reconnect.initial_delay (10.0)"


def test_nothing_to_publish_is_refused() -> None:
    message = error_for(minimal(video={"source": "none"}, audio={"source": "none"}))
    assert message.startswith("video.source: video.source and audio.source are both 'none'")


@pytest.mark.parametrize("source", ["video", "audio"])
def test_publishing_one_kind_only_is_fine(source: str) -> None:
    config = config_from_dict(minimal(**{source: {"source": "none"}}))
    assert getattr(config, source).source == "none"


def test_ice_server_url_without_a_scheme_is_refused_at_load() -> None:
    # A common slip: "stun.example.net:3478" instead of "stun:stun.example.net:3478".
    # It must fail when the config is loaded (exit 78), naming the key, not at the
    # first connection attempt.
    message = error_for(minimal(alo={"ice_servers": [{"urls": ["stun.example.net:3478"]}]}))
    assert message.startswith("alo.ice_servers[0]")
    assert "stun:" in message


def test_config_file_loads(tmp_path: Path) -> None:
    path = tmp_path / "alo-edge.toml"
    path.write_text(
        '[device]\nuser_id = "door-1"\n\n'
        '[alo]\nurl = "http://127.0.0.1:8080/whip/front"\nchannel = "front"\n\n'
        "[reconnect]\nmax_delay = 60\n",
        encoding="utf-8",
    )
    config = load_config(path)
    assert config.alo.channel == "front"
    assert config.reconnect.max_delay == 60.0


def test_invalid_toml_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "broken.toml"
    path.write_text('[alo]\nchannel = "front\n', encoding="utf-8")
    with pytest.raises(ConfigError, match="not valid TOML") as caught:
        load_config(path)
    assert str(path) in str(caught.value)


def test_missing_file_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "nowhere.toml"
    with pytest.raises(ConfigError, match="does not exist") as caught:
        load_config(path)
    assert str(path) in str(caught.value)


def test_validation_errors_from_a_file_name_the_key(tmp_path: Path) -> None:
    path = tmp_path / "alo-edge.toml"
    path.write_text(
        '[device]\nuser_id = "door-1"\n[alo]\nurl = "http://x/whip"\nchannel = "front"\n'
        '[reconnect]\ninitial_delay = "fast"\n',
        encoding="utf-8",
    )
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert caught.value.key == "reconnect.initial_delay"


def with_turn_credential() -> Config:
    return config_from_dict(
        minimal(
            alo={
                "ice_servers": [
                    {
                        "urls": ["turn:turn.example.net:3478"],
                        "username": "door-1",
                        "credential": "hunter2-turn-secret",
                    }
                ]
            }
        )
    )


def test_render_config_masks_the_ice_credential() -> None:
    rendered = render_config(with_turn_credential())
    assert "hunter2-turn-secret" not in rendered
    assert 'credential = "********"' in rendered
    assert 'username = "door-1"' in rendered
    assert 'urls = ["turn:turn.example.net:3478"]' in rendered


def test_rendered_config_loads_back_as_the_same_config_apart_from_secrets() -> None:
    config = with_turn_credential()
    reloaded = config_from_dict(tomllib.loads(render_config(config)))
    masked = IceServerConfig(
        urls=("turn:turn.example.net:3478",), username="door-1", credential="********"
    )
    assert reloaded.alo.ice_servers == (masked,)
    assert reloaded.device == config.device
    assert reloaded.reconnect == config.reconnect
    assert reloaded.video == config.video
    assert reloaded.alo.url == config.alo.url


def test_render_config_says_which_optional_keys_are_unset() -> None:
    rendered = render_config(config_from_dict(minimal()))
    assert "# token_file is not set" in rendered
    assert "# access_url is not set" in rendered


def test_config_error_is_also_a_value_error() -> None:
    with pytest.raises(ValueError, match=r"alo\.chanel"):
        config_from_dict({**minimal(), "alo": {**minimal()["alo"], "chanel": "x"}})


def test_config_error_carries_the_key() -> None:
    with pytest.raises(ConfigError) as caught:
        config_from_dict(minimal(reconnect={"jitter": 2}))
    assert caught.value.key == "reconnect.jitter"


def test_alo_config_defaults_are_whip_without_endpoints() -> None:
    assert AloConfig() == AloConfig(transport="whip", url=None, access_url=None, token_file=None)


# --- URLs that carry the token ----------------------------------------------------------


def _with_urls(alo: dict[str, Any], network: dict[str, Any] | None = None) -> Any:
    document = {"device": {"user_id": "door-1"}, "alo": {"channel": "front", **alo}}
    return config_from_dict({**document, "network": network or {}})


def test_plain_http_beyond_loopback_is_a_config_error_naming_the_key_and_the_fix() -> None:
    # 73a265e accepted it: the token then crossed the LAN in the clear.
    with pytest.raises(ConfigError) as caught:
        _with_urls({"access_url": "http://192.168.1.20:8080/v1/video/access"})
    assert caught.value.key == "alo.access_url"
    assert "network.allow_insecure = true" in str(caught.value)
    with pytest.raises(ConfigError, match=r"^alo\.url: plain ws://"):
        _with_urls({"transport": "janus", "url": "ws://192.168.1.20:8188", "room": 5})
    allowed = _with_urls({"url": "http://192.168.1.20:8080/whip/front"}, {"allow_insecure": True})
    assert allowed.network.allow_insecure is True
    assert _with_urls({"url": "http://127.0.0.1:8080/whip/front"}).network.allow_insecure is False
    assert _with_urls({"url": "https://whip.example.net/whip/front"}) is not None


# --- audio processing (issue 16) -------------------------------------------------------


def test_audio_processing_is_on_by_default_when_the_speaker_is() -> None:
    silent = config_from_dict(minimal()).audio
    assert (silent.echo_cancellation_on, silent.noise_suppression_on, silent.auto_gain_on) == (
        False,
        False,
        False,
    )
    talking = config_from_dict(minimal(audio={"playback": True})).audio
    assert (talking.echo_cancellation_on, talking.noise_suppression_on, talking.auto_gain_on) == (
        True,
        True,
        True,
    )
    tuned = config_from_dict(minimal(audio={"playback": True, "auto_gain": False})).audio
    assert (tuned.echo_cancellation_on, tuned.auto_gain_on) == (True, False)
    # Noise suppression and gain help a microphone without a speaker too, when asked for.
    assert config_from_dict(minimal(audio={"noise_suppression": True})).audio.noise_suppression_on


def test_half_duplex_needs_the_speaker_it_ducks_for() -> None:
    message = error_for(minimal(audio={"mode": "half_duplex"}))
    assert message.startswith("audio.mode: 'half_duplex' ducks the microphone")
    assert config_from_dict(minimal(audio={"mode": "half_duplex", "playback": True}))


def test_echo_cancellation_without_a_speaker_names_the_key() -> None:
    message = error_for(minimal(audio={"echo_cancellation": True}))
    assert message.startswith("audio.echo_cancellation: is true but audio.playback is false")


def test_the_self_test_interval_has_a_floor() -> None:
    message = error_for(minimal(audio={"selftest_interval": 5}))
    assert message.startswith("audio.selftest_interval: expected at least 60")
