"""`alo-edge status` shows the clock, a conversation and the Pi's power when they matter."""

from __future__ import annotations

from alo_edge.cli.inspection import describe_status
from alo_edge.system.timesync import NOT_SYNCHRONIZED

BASE = {"state": "CONNECTED", "since": "2025-01-01T12:00:00+00:00", "channel": "door",
        "transport": "whip", "uptime": 60, "reconnects": 0, "version": "0.1.0"}  # fmt: skip


def test_an_unsynchronized_clock_a_conversation_and_under_voltage_are_shown() -> None:
    status = {
        **BASE,
        "clock": {"synchronized": False, "message": f"{NOT_SYNCHRONIZED} (timedatectl)"},
        "talk": {"active": True, "reason": "the far end spoke 2 s ago"},
        "piHealth": {
            "available": True,
            "underVoltage": True,
            "throttledOccurred": True,
            "temperature": 71.6,
            "cameraRestarts": 2,
        },
    }

    lines = describe_status(status).splitlines()

    assert f"clock      {NOT_SYNCHRONIZED} (timedatectl)" in lines
    assert "talk       active: the far end spoke 2 s ago" in lines
    assert "pi         under-voltage (since boot: throttled), SoC 72 °C, camera restarts 2" in lines


def test_all_well_shows_no_clock_or_talk_line() -> None:
    status = {
        **BASE,
        "clock": {"synchronized": True, "message": "the system clock is synchronized"},
        "talk": {"active": False, "reason": "nobody is talking"},
        "piHealth": {"available": False},
    }

    text = describe_status(status)

    assert "clock" not in text
    assert "talk " not in text
    assert "pi  " not in text
