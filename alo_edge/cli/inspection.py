"""The commands that look at a device: ``config``, ``status``, ``check``.

None of them loads the WebRTC stack: an installer runs them on a Pi Zero.
"""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

from alo_edge.config import load_config, render_config
from alo_edge.errors import AloEdgeError, ExitCode
from alo_edge.preflight.basics import TokenCheck

# --- config ----------------------------------------------------------------------------


def config(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    print(render_config(config), end="")
    (token,) = asyncio.run(TokenCheck().run(config))
    print(f"# token: {token.message}")
    return ExitCode.OK


# --- status ----------------------------------------------------------------------------


def status(args: argparse.Namespace) -> int:
    import json

    url = args.url.rstrip("/")
    url = url if url.endswith("/status") else f"{url}/status"
    status = asyncio.run(_get_status(url))
    print(json.dumps(status, indent=2) if args.json else describe_status(status))
    return ExitCode.OK


async def _get_status(url: str) -> dict[str, Any]:
    import aiohttp

    try:
        async with (
            aiohttp.ClientSession() as http,
            http.get(url, timeout=aiohttp.ClientTimeout(total=5)) as response,
        ):
            if response.status != 200:
                raise AloEdgeError(f"{url} answered HTTP {response.status}")
            body = await response.json(content_type=None)
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise AloEdgeError(
            f"no status at {url} ({exc or type(exc).__name__}): is the service running, "
            "and is status.listen set to this address?"
        ) from None
    if not isinstance(body, dict):
        raise AloEdgeError(f"{url} did not answer with a JSON object")
    return body


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
    from alo_edge.preflight import default_checks, run_checks

    config = load_config(args.config)
    print(f"config: {args.config} is valid")
    for finding in asyncio.run(run_checks(config, default_checks())):
        print(finding.line())
    return ExitCode.OK
