"""The commands that look at a device: ``config``, ``status``, ``check``.

None of them loads the WebRTC stack or aiohttp before it needs to, and ``status`` not
even the config package: an installer runs them on a Pi Zero. ``check`` loads the media
stack only when it opens a camera or a microphone.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from alo_edge.errors import ConfigError, ExitCode

# --- config ----------------------------------------------------------------------------


def config(args: argparse.Namespace) -> int:
    import os
    import time

    from alo_edge.config import load_config, render_config
    from alo_edge.preflight.report import MARKS
    from alo_edge.preflight.token import UNIT_CREDENTIAL_FILE, token_findings

    config = load_config(args.config)
    print(render_config(config), end="")
    # The token check's verdicts, called directly: no event loop for a pure function.
    for finding in token_findings(config, time.time(), os.environ, UNIT_CREDENTIAL_FILE):
        print(f"# {MARKS[finding.verdict].strip()} {finding.line()}")
    return ExitCode.OK


# --- status ----------------------------------------------------------------------------


def status(args: argparse.Namespace) -> int:
    from alo_edge.cli.local_http import get_status

    status = get_status(args.url)
    print(json.dumps(status, indent=2) if args.json else describe_status(status))
    return ExitCode.OK


def describe_status(status: dict[str, Any]) -> str:
    """``GET /status`` as lines for a person (``alo-edge status``)."""
    lines = [f"state      {status.get('state')} since {status.get('since')}"]
    if status.get("pendingRestartSeconds") is not None:
        lines.append(
            f"retry      {status.get('retryCount')}, next attempt in "
            f"{status['pendingRestartSeconds']} s"
        )
    elif status.get("retryCount"):
        lines.append(f"retry      {status['retryCount']}")
    if status.get("lastError"):
        lines.append(f"last error {status['lastError']} ({status.get('lastErrorAt')})")
    lines.append(f"channel    {status.get('channel')} over {status.get('transport')}")
    video, audio = status.get("video") or {}, status.get("audio") or {}
    if video.get("source") != "none":
        fps = video.get("measuredFps")
        measured = f", sending at {fps} fps" if fps is not None else ""
        lines.append(
            f"video      {video.get('source')} ({video.get('device')}) "
            f"{video.get('width')}x{video.get('height')} @ {video.get('fps')} fps{measured}"
            + ("" if video.get("sending") else ", not sending")
        )
    if audio.get("source") != "none":
        extras = [x for x, on in (("muted", audio.get("muted")),) if on]
        extras.append("talk-back on" if audio.get("talkback") else "no talk-back")
        lines.append(
            f"audio      {audio.get('source')} ({audio.get('device')}), {', '.join(extras)}"
        )
    for kind, media in (("video", video), ("audio", audio)):
        if media.get("bitrate") is not None:
            rtt = media.get("roundTripTime")
            shown = f", RTT {rtt * 1000:.0f} ms" if isinstance(rtt, int | float) else ""
            lines.append(f"{kind + ' link':<10} {media['bitrate'] / 1000:.0f} kbit/s{shown}")
    lines += _field_lines(status)
    uptime = float(status.get("uptime") or 0)
    lines.append(f"uptime     {_duration(uptime)}  (reconnects: {status.get('reconnects')})")
    lines.append(f"version    alo-edge {status.get('version')}")
    return "\n".join(lines)


def _field_lines(status: dict[str, Any]) -> list[str]:
    """The clock, a conversation and the Pi's power, where they need a person's eye."""
    lines = []
    clock, talk, pi = (status.get(key) or {} for key in ("clock", "talk", "piHealth"))
    if clock.get("synchronized") is False:
        lines.append(f"clock      {clock.get('message')}")
    if talk.get("active"):
        lines.append(f"talk       active: {talk.get('reason')}")
    if pi.get("available"):
        now = [name for name, key in _PI_FLAGS if pi.get(key)]
        since = [name for name, key in _PI_FLAGS if pi.get(f"{key}Occurred") and not pi.get(key)]
        shown = ", ".join(now) or "ok"
        if since:
            shown += f" (since boot: {', '.join(since)})"
        temperature = pi.get("temperature")
        if isinstance(temperature, int | float):
            shown += f", SoC {temperature:.0f} °C"
        lines.append(f"pi         {shown}, camera restarts {pi.get('cameraRestarts', 0)}")
    return lines


_PI_FLAGS = (
    ("under-voltage", "underVoltage"),
    ("throttled", "throttled"),
    ("frequency capped", "frequencyCapped"),
    ("soft temperature limit", "softTemperatureLimit"),
)


def _duration(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    days, hours = divmod(hours, 24)
    if days:
        return f"{days}d {hours}h {minutes}m"
    if hours:
        return f"{hours}h {minutes}m"
    return f"{minutes}m {secs}s"


# --- check -----------------------------------------------------------------------------


def check(args: argparse.Namespace) -> int:
    """The pre-flight: one line per finding (or ``--json``); the exit code says whether the
    device would work (0; 69 hardware, 78 config, 1 anything else)."""
    from alo_edge.config import load_config
    from alo_edge.preflight import Finding, Verdict, default_checks, report, run_checks

    checks = default_checks()
    known = [check.name for check in checks]
    only, skip = _names(args.only, known), _names(args.skip, known)
    if only is None or skip is None:
        names = ", ".join(known)
        print(f"alo-edge check: --only/--skip take a comma list of: {names}", file=sys.stderr)
        return ExitCode.USAGE
    try:
        config = load_config(args.config)
    except ConfigError as exc:
        findings = [Finding("config", Verdict.FAIL, str(exc), exit_code=ExitCode.CONFIG)]
    else:
        findings = [Finding("config", Verdict.OK, f"{args.config} is valid")]
        chosen = [c for c in checks if (not only or c.name in only) and c.name not in skip]
        findings += run_checks(config, chosen)
    if args.json:
        print(json.dumps(report.document(str(args.config), findings), indent=2))
    else:
        print("\n".join(report.lines(findings)))
    summary = report.summary(findings)
    if summary is not None:
        print(summary, file=sys.stderr)
    return report.exit_code(findings)


def _names(raw: str | None, known: list[str]) -> set[str] | None:
    """``--only``/``--skip``: a comma list of check names (None when one is unknown)."""
    names = {name.strip() for name in (raw or "").split(",") if name.strip()} - {"config"}
    return names if names <= set(known) else None
