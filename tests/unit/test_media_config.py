"""The media keys of the config and what the composition root builds from them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from alo_edge.app import build_audio_source, build_video_source
from alo_edge.config import Config, config_from_dict
from alo_edge.errors import ConfigError, HardwareError
from alo_edge.media.alsa import AlsaSource
from alo_edge.media.filesource import FileSource
from alo_edge.media.v4l2 import V4l2Source
from tests.media_support import make_h264


def config(video: dict[str, Any] | None = None, audio: dict[str, Any] | None = None) -> Config:
    return config_from_dict(
        {
            "device": {"user_id": "door-1"},
            "alo": {"channel": "door", "url": "http://127.0.0.1:1/whip"},
            "video": video or {},
            "audio": audio or {},
        }
    )


def test_the_media_keys_have_defaults_for_a_pi() -> None:
    c = config()
    assert (c.video.bitrate, c.video.keyframe_interval, c.video.device, c.video.file) == (
        2_000_000,
        2.0,
        "/dev/video0",
        None,
    )
    assert (c.audio.device, c.audio.rate, c.audio.channels) == ("default", 48_000, 1)
    assert (c.audio.playback, c.audio.playback_device) == (False, "default")


@pytest.mark.parametrize("source", ["picamera2", "v4l2", "synthetic", "none"])
def test_every_video_source_of_the_design_is_accepted(source: str) -> None:
    assert config({"source": source}, {"source": "alsa"}).video.source == source


def test_an_unknown_source_names_the_key_and_the_choices() -> None:
    with pytest.raises(ConfigError, match=r"audio\.source: expected one of 'alsa'"):
        config(audio={"source": "pulse"})
    with pytest.raises(ConfigError, match=r"video\.keyframe_interval: expected at most 60"):
        config({"keyframe_interval": 120})


def test_the_file_source_needs_a_file() -> None:
    with pytest.raises(ConfigError, match=r"video\.file: is required"):
        config({"source": "file"})


def test_picamera2_missing_is_a_hardware_error_at_build_time_naming_the_fix() -> None:
    with pytest.raises(HardwareError, match=r"apt install python3-picamera2") as caught:
        build_video_source(config({"source": "picamera2"}))
    assert "--system-site-packages" in str(caught.value)


def test_the_other_sources_are_built_without_opening_anything(tmp_path: Path) -> None:
    clip = make_h264(tmp_path / "c.h264", width=64, height=48, frames=2, gop=2)
    file_source = build_video_source(config({"source": "file", "file": str(clip)}))
    assert isinstance(file_source, FileSource)
    assert file_source.device_id == "file:c.h264"
    v4l2 = build_video_source(config({"source": "v4l2", "device": "/dev/video7"}))
    assert isinstance(v4l2, V4l2Source)
    assert v4l2.device_id == "/dev/video7"
    mic = build_audio_source(config(audio={"source": "alsa", "device": "hw:1"}))
    assert isinstance(mic, AlsaSource)
    assert mic.device_id == "alsa:hw:1"
    for source in (file_source, v4l2, mic):
        source.stop()
