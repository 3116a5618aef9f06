"""The hardware-in-the-loop bench: the service's panel measured from the outside.

On a Raspberry Pi wired as ``config/hil-bench/wiring.toml`` says (each LED pin jumpered to
a sense input, one bench output jumpered to the button input), it runs the device's
session and panel (``app.build_video`` and ``app.build_panel``, as the service does)
against the lab in-process on 127.0.0.1, and checks with timings:

- every state's status LED pattern: frequency, duty and pulses per cycle measured on
  the sense pin;
- the session: connect, video frames and audio arriving at the lab, the mic LED;
- the button gestures driven through the bench output: press (mute), a bouncy press
  (exactly one toggle), hold (reconnect now), long hold (restart, exit code 75);
- recovery after the network is cut (the lab stops, then comes back on the same port);
- that the status LED followed every state change within ``limits.follow_ms``.

``--virtual`` runs the same code on gpiozero's MockFactory with the jumpers emulated
by mock pins, so CI runs it on every change. The measurement code is shared: both
paths read sense-pin edges through gpiozero input callbacks.

It prints a table for a person, or JSON with ``--json``; the exit status is 0 when
every check passed, 1 when one failed, 69 when the GPIO hardware is missing and 78
when the wiring file is invalid. ``python -m alo_edge.tools.hil_bench`` runs :func:`main`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from alo_edge.api import AloVideo
from alo_edge.errors import ConfigError, ExitCode, HardwareError
from alo_edge.lab import LabServer, LabSettings
from alo_edge.lab.client import LabClient
from alo_edge.panel import Panel
from alo_edge.panel.gpio import describe_factory, open_pin_factory
from alo_edge.panel.patterns import status_pattern
from alo_edge.session.states import ConnectionState
from alo_edge.tools.hil_bench.instruments import (
    ButtonDrive,
    EventLog,
    PinFactory,
    SenseInput,
    action_is,
    state_is,
    virtual_factory,
    wait_level,
)
from alo_edge.tools.hil_bench.measure import follow_lag, measure_pattern, pattern_matches
from alo_edge.tools.hil_bench.report import BenchAbort, Report, describe_pattern, on_off
from alo_edge.tools.hil_bench.wiring import (
    BENCH_USER,
    CHANNEL,
    DEFAULT_WIRING,
    Limits,
    Wiring,
    bench_config,
    load_wiring,
    panel_table,
)
from alo_edge.tools.lab_device import local_lab

S = ConnectionState
#: How long one question to the lab may take.
LAB_TIMEOUT = 5.0


async def wait_for_media(lab_url: str, limits: Limits, within: float) -> dict[str, Any]:
    """The lab's report once enough frames arrived, or the last one after ``within`` seconds."""
    deadline = time.monotonic() + within
    report: dict[str, Any] = {}
    async with LabClient(lab_url, timeout=LAB_TIMEOUT) as lab:
        while time.monotonic() < deadline:
            report = await lab.channel_report(CHANNEL)
            if (
                report.get("framesDecoded", 0) >= limits.min_video_frames
                and report.get("audioFrames", 0) >= limits.min_audio_frames
            ):
                break
            await asyncio.sleep(0.1)  # the lab counts frames as they arrive; ask again shortly
    return report


class Bench:
    """One bench run: the lab, the device session and panel, the sense pins."""

    def __init__(self, wiring: Wiring, *, virtual: bool) -> None:
        self.wiring = wiring
        self.limits = wiring.limits
        self.virtual = virtual
        self.report = Report(virtual=virtual, wiring=str(wiring.path))

    async def run(self) -> Report:
        """Every check, on the real pins or (``virtual``) on a jumpered MockFactory."""
        started = time.monotonic()
        factory: PinFactory = (
            virtual_factory(self.wiring)
            if self.virtual
            else open_pin_factory(self.wiring.panel.pin_factory)
        )
        self.report.backend = describe_factory(factory).split(" ")[0]
        try:
            await self._run_on(factory)
        finally:
            factory.close()
            self.report.seconds = time.monotonic() - started
        return self.report

    async def _run_on(self, factory: PinFactory) -> None:
        from alo_edge.app import build_panel, build_video  # the device as the service builds it

        wiring = self.wiring
        active_high = wiring.panel.active_high
        async with local_lab(BENCH_USER, prefix="alo-edge-bench-") as device:
            labs = [device.lab]
            senses: list[SenseInput | ButtonDrive] = []
            video: AloVideo | None = None
            panel: Panel | None = None
            try:
                self.status = SenseInput(factory, wiring.sense.status_led, active_high=active_high)
                senses.append(self.status)
                self.mic = SenseInput(factory, wiring.sense.mic_led, active_high=active_high)
                senses.append(self.mic)
                self.drive = ButtonDrive(
                    factory, wiring.sense.button_drive, pull_up=wiring.panel.pull_up
                )
                senses.append(self.drive)
                config = bench_config(
                    panel_table(wiring.panel),
                    pin_factory="mock" if self.virtual else wiring.panel.pin_factory,
                    lab_url=device.url,
                    token_file=device.token_file,
                )
                self.exit_codes: list[int] = []
                video = build_video(config)
                panel = build_panel(
                    config, request_stop=self.exit_codes.append, pin_factory=factory
                )
                self.log = EventLog(video)
                with self.report.check("panel pins", "the panel claims its pins") as check:
                    await panel.start(video)
                    check.ok = True
                    check.measured = (
                        ", ".join(
                            f"GPIO{p}" for p in (wiring.panel.status_led, wiring.panel.mic_led)
                        )
                        + f", button GPIO{wiring.panel.button}"
                    )
                await self._patterns(panel)
                await self._session(video, device.lab)
                labs.append(await self._network_cut(device.lab))
                self._follow()
                await self._long_hold(video)
            finally:
                if video is not None:
                    await video.disconnect()
                    for source in video.media_sources:
                        source.stop()
                if panel is not None:
                    await panel.stop()
                for instrument in senses:
                    instrument.close()
                for server in labs:
                    with contextlib.suppress(RuntimeError):
                        await server.stop()

    async def _patterns(self, panel: Panel) -> None:
        """Every state's status LED pattern, measured on the sense pin from a dark start."""
        cases: list[tuple[str, ConnectionState, bool]] = [(s.value, s, False) for s in S]
        cases.append(("auth error", S.ERROR, True))
        for label, state, auth in cases:
            expected = status_pattern(state, auth)
            panel.show_state(S.NOT_CONNECTED)
            await asyncio.sleep(0.15)  # a dark gap, so the pattern's first edge is measurable
            if expected.steady:
                window = 0.3
            else:
                window = expected.period * (2 if expected.period < 1 else 1) + 0.25
            with self.report.check(f"pattern {label}", describe_pattern(expected)) as check:
                shown = time.monotonic()
                panel.show_state(state, auth_failed=auth)
                await asyncio.sleep(window)  # the measurement window itself
                edges = self.status.edges()
                # A steady level is judged once the LED had its time to follow the change.
                settled = shown + (self.limits.follow_ms / 1000 if expected.steady else 0.0)
                measured = measure_pattern(edges, settled, shown + window)
                check.ok, why = pattern_matches(measured, expected, self.limits)
                first = next((t for t, _ in edges if t >= shown), None)
                check.measured = measured.describe() + (f" ({why})" if why else "")
                check.values = {
                    "frequencyHz": round(measured.frequency, 3),
                    "duty": round(measured.duty, 3),
                    "pulses": measured.pulses,
                    "cycles": measured.cycles,
                }
                if first is not None and expected.segments[0][0]:
                    delay_ms = (first - shown) * 1000
                    check.values["firstEdgeMs"] = round(delay_ms, 2)
                    if delay_ms > self.limits.follow_ms:
                        check.ok = False
                        check.measured += f"; first edge after {delay_ms:.0f} ms"
        panel.render()

    async def _session(self, video: AloVideo, lab: LabServer) -> None:
        limits = self.limits
        log = self.log
        with self.report.check(
            "connect", f"CONNECTED within {limits.connect_seconds:g} s"
        ) as check:
            began = time.monotonic()
            await video.connect(CHANNEL)
            hit = await log.wait_for(state_is("CONNECTED"), limits.connect_seconds)
            if hit is None:
                check.measured = f"still {video.connection_state}"
                raise BenchAbort("the session did not connect")
            lit = await wait_level(self.status, True, limits.follow_ms / 1000)
            check.ok = lit is not None
            check.measured = f"{hit[0] - began:.2f} s; status LED " + ("on" if lit else "not on")
            check.values = {"connectSeconds": round(hit[0] - began, 3)}

        frames_expected = (
            f">= {limits.min_video_frames} video and {limits.min_audio_frames} audio frames"
        )
        with self.report.check("media at the lab", frames_expected) as check:
            report = await wait_for_media(lab.url, limits, limits.connect_seconds)
            video_frames = report.get("framesDecoded", 0)
            audio_frames = report.get("audioFrames", 0)
            check.ok = (
                video_frames >= limits.min_video_frames and audio_frames >= limits.min_audio_frames
            )
            check.measured = (
                f"{video_frames} video ({report.get('width')}x{report.get('height')}), "
                f"{audio_frames} audio frames"
            )
            check.values = {"videoFrames": video_frames, "audioFrames": audio_frames}

        with self.report.check("mic LED live", "on while connected and unmuted") as check:
            lit_at = await wait_level(self.mic, True, limits.follow_ms / 1000)
            check.ok = lit_at is not None and not video.muted
            check.measured = "on" if lit_at is not None else "off"

        await self._press(video)
        await self._bouncy_press(video)
        await self._hold(video)

    async def _press(self, video: AloVideo) -> None:
        log = self.log
        with self.report.check("press: toggle mute", "muted; mic LED off within 100 ms") as check:
            mark = log.mark()
            self.drive.press()
            await asyncio.sleep(0.15)  # a short press is this long
            released = self.drive.release()
            hit = await log.wait_for(action_is("toggle_mute"), 1.0, mark)
            if hit is None:
                check.measured = "no toggle_mute action"
                return
            dark = await wait_level(self.mic, False, 1.0)
            lag = None if dark is None else max(dark - hit[0], 0.0)
            check.ok = video.muted and lag is not None and lag * 1000 <= self.limits.follow_ms
            check.measured = (
                f"action {(hit[0] - released) * 1000:.0f} ms after release, muted={video.muted}, "
                + ("mic LED still on" if lag is None else f"mic LED off after {lag * 1000:.1f} ms")
            )
            check.values = {"actionAfterReleaseMs": round((hit[0] - released) * 1000, 2)}

    async def _bouncy_press(self, video: AloVideo) -> None:
        log = self.log
        bounce = self.wiring.panel.bounce_time
        with self.report.check(
            "bouncy press: one toggle", "one toggle_mute, unmuted, mic LED on"
        ) as check:
            mark = log.mark()
            self.drive.chatter(7, pressed_at_end=True)
            await asyncio.sleep(0.15)  # held between the bounces
            self.drive.chatter(7, pressed_at_end=False)
            hit = await log.wait_for(action_is("toggle_mute"), 1.0, mark)
            # Any second toggle would come within the bounce time plus the loop's latency.
            await asyncio.sleep(bounce + 0.3)
            toggles = [d for _, d in log.actions(mark) if d["action"] == "toggle_mute"]
            lit = await wait_level(self.mic, True, 0.2)
            check.ok = hit is not None and len(toggles) == 1 and not video.muted and lit is not None
            check.measured = f"{len(toggles)} toggle(s), muted={video.muted}, mic LED " + (
                "on" if lit is not None else "off"
            )
            check.values = {"toggles": len(toggles)}

    async def _hold(self, video: AloVideo) -> None:
        log = self.log
        limits = self.limits
        hold = self.wiring.panel.hold_seconds
        with self.report.check(
            "hold: reconnect now", f"reconnect after {hold:g} s, CONNECTED again"
        ) as c:
            mark = log.mark()
            pressed = self.drive.press()
            hit = await log.wait_for(action_is("reconnect"), hold + 1.0, mark)
            self.drive.release()
            if hit is None:
                c.measured = "no reconnect action"
                return
            fired = hit[0] - pressed
            back = await log.wait_for(state_is("CONNECTED"), limits.connect_seconds, mark)
            passed = [d["state"] for _, k, d in log.entries[mark:] if k == "onConnectionChange"]
            c.ok = (
                abs(fired - hold) <= limits.hold_tolerance
                and back is not None
                and "RECONNECT_PENDING" in passed
            )
            c.measured = f"fired at {fired:.2f} s; " + (
                f"CONNECTED again {back[0] - hit[0]:.2f} s later" if back else "not reconnected"
            )
            c.values = {"firedSeconds": round(fired, 3)}

    async def _network_cut(self, lab: LabServer) -> LabServer:
        """Stop the lab (the network is gone), see the pending pattern, restart it."""
        log = self.log
        limits = self.limits
        port = int(lab.url.rsplit(":", 1)[1])
        replacement = lab
        with self.report.check(
            "network cut: recovery",
            f"RECONNECT_PENDING shown, CONNECTED within {limits.recovery_seconds:g} s of return",
        ) as check:
            mark = log.mark()
            cut = time.monotonic()
            await lab.stop()
            # Wait for a backoff wait of a second or more and its dark phase.
            pending = await log.wait_for(
                lambda k, d: (
                    k == "onConnectionChange"
                    and d["state"] == "RECONNECT_PENDING"
                    and d.get("pendingRestartSeconds", 0) >= 1
                ),
                limits.recovery_seconds,
                mark,
            )
            dark = None if pending is None else await wait_level(self.status, False, 2.0)
            settings = lab.settings
            replacement = LabServer(
                LabSettings(
                    api_key=settings.api_key, secret=settings.secret, host="127.0.0.1", port=port
                )
            )
            await replacement.start()
            back_mark = log.mark()
            returned = time.monotonic()
            back = await log.wait_for(state_is("CONNECTED"), limits.recovery_seconds, back_mark)
            report = await wait_for_media(replacement.url, limits, limits.connect_seconds)
            frames = report.get("framesDecoded", 0)
            check.ok = (
                pending is not None
                and dark is not None
                and back is not None
                and frames >= limits.min_video_frames
            )
            check.measured = (
                ("pending seen" if pending else "no RECONNECT_PENDING")
                + (", LED dark phase seen" if dark else ", no dark phase")
                + (
                    f", CONNECTED {back[0] - returned:.2f} s after the lab returned"
                    if back
                    else ", not reconnected"
                )
                + f", {frames} frames at the new lab"
            )
            check.values = {
                "outageSeconds": round(returned - cut, 3),
                "recoverySeconds": None if back is None else round(back[0] - returned, 3),
                "framesAfter": frames,
            }
        return replacement

    def _follow(self) -> None:
        limit = self.limits.follow_ms
        with self.report.check(
            "status LED followed", f"every state change within {limit:g} ms"
        ) as c:
            now = time.monotonic()
            lag = follow_lag(self.log.marks, self.status.edges(), now)
            c.ok = lag * 1000 <= limit
            c.measured = f"{len(self.log.marks)} state changes, worst lag {lag * 1000:.1f} ms"
            c.values = {"worstLagMs": round(lag * 1000, 2), "stateChanges": len(self.log.marks)}

    async def _long_hold(self, video: AloVideo) -> None:
        log = self.log
        limits = self.limits
        long_hold = self.wiring.panel.long_hold_seconds
        with self.report.check(
            "long hold: restart",
            f"restart after {long_hold:g} s, exit {ExitCode.RESTART}, LEDs dark on leaving",
        ) as check:
            mark = log.mark()
            pressed = self.drive.press()
            hit = await log.wait_for(action_is("restart"), long_hold + 1.0, mark)
            self.drive.release()
            if hit is None:
                check.measured = "no restart action"
                return
            fired = hit[0] - pressed
            # What the service does on a restart request: leave the channel, darken the panel.
            await video.disconnect()
            status_dark = not self.status.lit()
            mic_dark = not self.mic.lit()
            check.ok = (
                abs(fired - long_hold) <= limits.hold_tolerance
                and self.exit_codes == [ExitCode.RESTART]
                and status_dark
                and mic_dark
            )
            check.measured = (
                f"fired at {fired:.2f} s, exit code {self.exit_codes}, "
                f"status LED {on_off(not status_dark)}, mic LED {on_off(not mic_dark)}"
            )
            check.values = {"firedSeconds": round(fired, 3), "exitCodes": self.exit_codes}


# --- command line ---------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    """``scripts/hil-bench [--virtual] [--json] [--wiring FILE]``; returns the exit status."""
    parser = argparse.ArgumentParser(prog="hil-bench", description=__doc__.splitlines()[0])
    parser.add_argument("--virtual", action="store_true", help="gpiozero MockFactory, no hardware")
    parser.add_argument("--json", action="store_true", help="one JSON document on stdout")
    parser.add_argument("--wiring", type=Path, default=DEFAULT_WIRING, metavar="FILE")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        wiring = load_wiring(args.wiring)
    except ConfigError as exc:
        print(f"hil-bench: {exc}", file=sys.stderr)
        return ExitCode.CONFIG
    bench = Bench(wiring, virtual=args.virtual)
    try:
        report = asyncio.run(bench.run())
    except HardwareError as exc:
        print(f"hil-bench: hardware missing: {exc}", file=sys.stderr)
        return ExitCode.HARDWARE
    except BenchAbort as exc:
        report = bench.report
        report.error = str(exc)
    if args.json:
        print(json.dumps(report.to_json(), indent=2))
    else:
        print(report.table())
    return ExitCode.OK if report.ok else ExitCode.FAILURE


if __name__ == "__main__":
    sys.exit(main())
