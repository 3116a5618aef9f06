"""Missing hardware, as the service meets it: a missing camera library stops it (an install
problem), a missing microphone does not; a missing camera device is waited for
(test_camera_missing.py)."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.helpers import LabProcess, Proc, run_cli, state_is, write_toml

pytestmark = pytest.mark.integration

CHANNEL = "gate"


def device_document(
    lab_url: str, token_file: Path, video: dict[str, object], audio: dict[str, object]
) -> dict[str, dict[str, object]]:
    return {
        "device": {"user_id": "door-1"},
        "alo": {
            "access_url": f"{lab_url}/v1/video/access",
            "channel": CHANNEL,
            "token_file": str(token_file),
        },
        "network": {"host_addresses": ["127.0.0.1"]},
        "video": video,
        "audio": audio,
    }


def test_picamera2_missing_exits_69_at_startup_naming_the_fix(tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text("unused\n")
    config = write_toml(
        tmp_path / "camera.toml",
        device_document(
            "http://127.0.0.1:9", token, {"source": "picamera2"}, {"source": "synthetic"}
        ),
    )
    started = time.monotonic()
    result = run_cli("run", "-c", str(config))

    assert result.returncode == 69, result.stderr
    assert "hardware missing" in result.stderr
    assert "apt install python3-picamera2" in result.stderr
    assert time.monotonic() - started < 10  # at startup, not after retries


def test_a_missing_microphone_means_video_only_with_a_warning(
    lab: LabProcess,
    start_device: Callable[..., Proc],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    alsa_home = tmp_path / "home"
    alsa_home.mkdir()  # no .asoundrc: the PCM named below does not exist
    monkeypatch.setenv("HOME", str(alsa_home))
    token = tmp_path / "token"
    token.write_text(lab.mint("door-1") + "\n")
    device = start_device(
        device_document(
            lab.url,
            token,
            {"source": "synthetic", "width": 160, "height": 96},
            {"source": "alsa", "device": "alo_no_such_mic"},
        )
    )

    warning = device.wait_for(
        lambda e: e["event"] == "onDeviceListUpdate" and "warning" in e["detail"],
        what="a device warning",
    )
    assert "alo_no_such_mic" in warning["detail"]["warning"]
    assert "publishing video only" in warning["detail"]["warning"]
    assert warning["detail"]["devices"] == [{"kind": "video", "deviceId": "synthetic-video"}]
    device.wait_for(state_is("CONNECTED"), what="CONNECTED")
    published = device.wait_for(
        lambda e: e["event"] == "onPublishedStreamChange", what="onPublishedStreamChange"
    )
    assert published["detail"]["isPublishingVideo"] is True
    assert published["detail"]["isPublishingAudio"] is False
    assert published["detail"]["inputDeviceIds"] == {"video": "synthetic-video"}

    report = lab.wait_for_channel(CHANNEL, lambda r: r["framesDecoded"] >= 30)
    assert report["audioFrames"] == 0
    assert device.running
