"""The live view's plumbing without a browser: the demo's view URL, device state reports.

The browser tier (tests/browser) plays the page in Chromium; these check what it
relies on: the demo names the page, and the device's states reach the lab's timeline,
including the ones from an outage, delivered once the lab is reachable again.
"""

from __future__ import annotations

import json
import re
import urllib.request
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.helpers import STEP, LabProcess, Proc, Processes, device_config, http_json, state_is

pytestmark = pytest.mark.integration

CHANNEL = "gate"


def test_demo_prints_the_live_view_url_and_the_page_is_served(procs: Processes) -> None:
    # With --events - the lines for a person go to stderr.
    demo = procs.cli("demo", "--duration", "3", "--events", "-", name="demo")
    line = demo.stderr.wait_line(lambda text: text.startswith("view: "), STEP)
    assert line is not None, demo.stderr.tail()
    match = re.match(r"view: (http://127\.0\.0\.1:\d+/view/demo)\s", line)
    assert match, line
    with urllib.request.urlopen(match.group(1), timeout=5) as response:
        assert response.headers["Content-Type"].startswith("text/html")
        page = response.read().decode()
    assert "Hold to talk" in page
    assert '"demo"' in page  # the channel the page's script plays
    assert demo.wait(STEP) == 0


def post_events(lab: LabProcess, token: str | None, body: object) -> tuple[int, object]:
    request = urllib.request.Request(
        f"{lab.url}/api/channels/{CHANNEL}/events",
        data=json.dumps(body).encode(),
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    if token is not None:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        with error:
            return error.code, json.loads(error.read())


def test_state_reports_need_the_device_token_and_known_states(lab: LabProcess) -> None:
    event = {"ts": 1.0, "state": "CONNECTED"}
    assert post_events(lab, None, {"events": [event]})[0] == 401
    token = lab.mint("gate-1")
    code, body = post_events(lab, token, {"events": [{"ts": 1.0, "state": "HAPPY"}]})
    assert code == 400
    assert "events[0].state" in str(body)
    assert post_events(lab, token, {"events": "CONNECTED"})[0] == 400
    assert post_events(lab, token, {"events": [event]}) == (200, {"accepted": 1})
    # A resent state (the device could not tell it arrived) is not shown twice.
    assert post_events(lab, token, {"events": [event]}) == (200, {"accepted": 0})


def test_the_device_reports_its_states_to_the_lab_including_an_outage(
    lab: LabProcess, start_device: Callable[..., Proc], tmp_path: Path
) -> None:
    token = tmp_path / "token"
    token.write_text(lab.mint("gate-1") + "\n", encoding="utf-8")
    document = device_config(
        user_id="gate-1",
        channel=CHANNEL,
        token_file=token,
        access_url=f"{lab.url}/v1/video/access",
        reconnect={"liveness_timeout": 3, "initial_delay": 1, "jitter": 0},
    )
    document["video"]["fps"] = 15
    document["status"] = {"listen": ""}
    device = start_device(document)
    device.wait_for(state_is("CONNECTED"), what="CONNECTED")
    timeline = lab.wait_for_channel(CHANNEL, lambda r: True)  # the channel exists
    code, report = http_json("GET", f"{lab.url}/api/channels/{CHANNEL}")
    assert code == 200, report

    lab.kick(CHANNEL)
    device.wait_for(state_is("ERROR"), what="ERROR after the kick")
    device.wait_for(state_is("CONNECTED"), 2 * STEP, "CONNECTED again")

    def states() -> list[str]:
        _, report = http_json("GET", f"{lab.url}/api/channels/{CHANNEL}")
        return [entry["state"] for entry in report["timeline"]]

    timeline = lab.wait_for_channel(CHANNEL, lambda r: states().count("CONNECTED") == 2)
    assert timeline["connected"] is True
    assert states() == [
        "ACQUIRING_ACCESS",
        "CONNECTING",
        "CONNECTED",
        "ERROR",
        "RECONNECT_PENDING",
        "ACQUIRING_ACCESS",
        "CONNECTING",
        "CONNECTED",
    ]
    _, report = http_json("GET", f"{lab.url}/api/channels/{CHANNEL}")
    error = report["timeline"][3]
    assert error["message"]
    assert error["retryCount"] == 1
    assert [entry["seq"] for entry in report["timeline"]] == list(range(8))
