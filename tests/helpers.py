"""Helpers for tests that run the real `alo-edge` commands as processes.

Nothing here is a fake: processes are the installed CLI, HTTP goes to the real lab on
127.0.0.1, and every wait is for something the process said (a JSON event line, a log
line, an HTTP answer), bounded in time.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import IO, Any

from alo_edge.api import AloVideo
from alo_edge.events import Event as SdkEvent
from alo_edge.lab import mint_token

#: The systemd unit a Pi gets (scripts/install-on-pi copies it).
UNIT_FILE = Path(__file__).resolve().parents[1] / "systemd" / "alo-edge.service"

#: How long a single step (a state change, an HTTP answer) may take on a loaded 2-core box.
STEP = 10.0

Event = dict[str, Any]


def alo_edge_command() -> list[str]:
    """The installed console script next to this interpreter, else ``python -m alo_edge.cli``."""
    script = Path(sys.executable).parent / "alo-edge"
    if script.exists():
        return [str(script)]
    return [sys.executable, "-m", "alo_edge.cli"]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


# --- reading a process's output ------------------------------------------------------


#: A JWT in a log line is a leaked token: alo-edge logs none, whatever the level.
JWT_PATTERN = re.compile(r"eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}")
#: Every leak seen during the run; tests/conftest.py fails the session when it is not empty.
TOKEN_LEAKS: list[str] = []


def record_token_leaks(where: str, lines: Iterable[str]) -> None:
    """Remember each line that carries a JWT (the token itself masked in the record)."""
    for line in lines:
        if JWT_PATTERN.search(line):
            TOKEN_LEAKS.append(f"{where}: {JWT_PATTERN.sub('<JWT>', line)[:200]}")


class LineReader:
    """Reads a text stream line by line in a background thread; waits are bounded."""

    def __init__(self, stream: IO[str], name: str) -> None:
        self.lines: list[str] = []
        self.closed = False
        self._cond = threading.Condition()
        self._stream = stream
        self._thread = threading.Thread(target=self._pump, name=name, daemon=True)
        self._thread.start()

    def _pump(self) -> None:
        try:
            for raw in self._stream:
                line = raw.rstrip("\n")
                with self._cond:
                    self._accept(line)
                    self._cond.notify_all()
        except ValueError:  # the stream was closed under us during cleanup
            pass
        finally:
            with self._cond:
                self.closed = True
                self._cond.notify_all()

    def _accept(self, line: str) -> None:
        self.lines.append(line)

    def wait_line(self, predicate: Callable[[str], bool], timeout: float) -> str | None:
        """The first line matching ``predicate``; None on timeout or end of stream."""
        deadline = time.monotonic() + timeout
        seen = 0
        with self._cond:
            while True:
                for line in self.lines[seen:]:
                    if predicate(line):
                        return line
                seen = len(self.lines)
                remaining = deadline - time.monotonic()
                if self.closed or remaining <= 0:
                    return None
                self._cond.wait(remaining)

    def join(self, timeout: float) -> None:
        """Wait for end of stream (the process has exited) and close the stream."""
        self._thread.join(timeout)
        if not self._thread.is_alive():
            self._stream.close()

    def tail(self, count: int = 15) -> str:
        with self._cond:
            return "\n".join(self.lines[-count:])


class EventStream(LineReader):
    """The ``--events -`` JSON lines of a process, with a cursor for ordered waits.

    ``wait_for`` looks at events after the previous match only, so consecutive calls
    assert an order. Lines that are not JSON are kept in ``junk``.
    """

    def __init__(self, stream: IO[str], name: str) -> None:
        self.events: list[Event] = []
        self.junk: list[str] = []
        self.cursor = 0
        super().__init__(stream, name)

    def _accept(self, line: str) -> None:
        super()._accept(line)
        try:
            event = json.loads(line)
        except json.JSONDecodeError:
            self.junk.append(line)
            return
        if isinstance(event, dict):
            self.events.append(event)
        else:
            self.junk.append(line)

    def wait_for(
        self, predicate: Callable[[Event], bool], timeout: float, what: str = "an event"
    ) -> Event:
        """The first event after the cursor matching ``predicate``; moves the cursor past it."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for index in range(self.cursor, len(self.events)):
                    if predicate(self.events[index]):
                        self.cursor = index + 1
                        return self.events[index]
                remaining = deadline - time.monotonic()
                if self.closed or remaining <= 0:
                    ended = "the stream ended" if self.closed else f"{timeout:g} s passed"
                    raise AssertionError(
                        f"waited for {what} but {ended}; events after the cursor:\n"
                        + self.describe(self.events[self.cursor :])
                    )
                self._cond.wait(remaining)

    def index_of(self, event: Event) -> int:
        """The position of ``event`` (the very object a wait returned) in the history."""
        with self._cond:
            return next(i for i, e in enumerate(self.events) if e is event)

    def snapshot(self) -> list[Event]:
        with self._cond:
            return list(self.events)

    @staticmethod
    def describe(events: Sequence[Event]) -> str:
        return "\n".join(json.dumps(e)[:300] for e in events[-25:]) or "(none)"


def state_is(state: str) -> Callable[[Event], bool]:
    """Matches ``onConnectionChange`` events with ``detail.state == state``."""

    def match(event: Event) -> bool:
        return event.get("event") == "onConnectionChange" and event["detail"]["state"] == state

    return match


def disconnect_is(state: str) -> Callable[[Event], bool]:
    """Matches ``onDisconnect`` events with ``detail.state == state``."""

    def match(event: Event) -> bool:
        return event.get("event") == "onDisconnect" and event["detail"]["state"] == state

    return match


SESSION_EVENTS = ("onConnectionChange", "onDisconnect")


def session_events(events: list[Event]) -> list[Event]:
    """Only the connection events (other SDK events, e.g. published streams, interleave)."""
    return [e for e in events if e.get("event") in SESSION_EVENTS]


def label(event: Event) -> str:
    """``onConnectionChange:CONNECTED`` style label, for asserting whole sequences."""
    return f"{event['event']}:{event['detail']['state']}"


# --- processes -----------------------------------------------------------------------


class Proc:
    """A child process in its own process group, its stdout and stderr read in threads."""

    def __init__(
        self,
        args: Sequence[str],
        *,
        name: str,
        env: dict[str, str] | None = None,
        cwd: Path | None = None,
    ):
        self.name = name
        self.args = list(args)
        self.started_at = time.time()
        self.popen = subprocess.Popen(
            self.args,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            encoding="utf-8",
            bufsize=1,
            start_new_session=True,
            env=env,
        )
        assert self.popen.stdout is not None
        assert self.popen.stderr is not None
        self.events = EventStream(self.popen.stdout, f"{name}-stdout")
        self.stderr = LineReader(self.popen.stderr, f"{name}-stderr")

    @property
    def pid(self) -> int:
        return self.popen.pid

    @property
    def running(self) -> bool:
        return self.popen.poll() is None

    def wait_for(
        self, predicate: Callable[[Event], bool], timeout: float = STEP, what: str = "an event"
    ) -> Event:
        """An event from ``--events -``; a timeout reports the events and stderr's tail."""
        try:
            return self.events.wait_for(predicate, timeout, what)
        except AssertionError as error:
            raise AssertionError(
                f"{self.name} (exit code {self.popen.poll()}): {error}\n"
                f"--- stderr tail:\n{self.stderr.tail()}"
            ) from None

    def signal(self, signum: int) -> None:
        """Send ``signum`` to the process itself (not its group)."""
        if self.running:
            self.popen.send_signal(signum)

    def wait(self, timeout: float) -> int:
        """The exit code; fails the test if the process is still running after ``timeout``."""
        try:
            code = self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(
                f"{self.name} still running after {timeout:g} s\n"
                f"--- stderr tail:\n{self.stderr.tail()}"
            ) from None
        self.stdout_done()
        return code

    def stdout_done(self) -> None:
        self.events.join(STEP)
        self.stderr.join(STEP)

    def kill(self) -> None:
        """SIGKILL the whole process group (if still running), reap it, close the pipes."""
        if self.popen.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.popen.pid, signal.SIGKILL)
        try:
            self.popen.wait(STEP)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.wait(STEP)
        self.stdout_done()


class Processes:
    """Every process a test started; :meth:`cleanup` kills them by process group."""

    def __init__(self) -> None:
        self._started: list[Proc] = []

    def start(self, args: Sequence[str], *, name: str, env: dict[str, str] | None = None) -> Proc:
        proc = Proc(args, name=name, env=env)
        self._started.append(proc)
        return proc

    def cli(self, *args: str, name: str, env: dict[str, str] | None = None) -> Proc:
        """Start ``alo-edge ARGS...`` (``env``: the whole environment, default this one's)."""
        return self.start([*alo_edge_command(), *args], name=name, env=env)

    def cleanup(self) -> None:
        for proc in reversed(self._started):
            proc.kill()
            record_token_leaks(f"{proc.name} stderr", proc.stderr.lines)
        self._started.clear()


def run_cli(*args: str, timeout: float = STEP) -> subprocess.CompletedProcess[str]:
    """Run ``alo-edge ARGS...`` to completion (commands that do not serve)."""
    return subprocess.run(
        [*alo_edge_command(), *args],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


# --- HTTP ------------------------------------------------------------------------------


def http_json(
    method: str, url: str, *, token: str | None = None, timeout: float = 5.0
) -> tuple[int, Any]:
    """``(status, parsed JSON body)`` of one request; HTTP errors are returned, not raised."""
    request = urllib.request.Request(url, method=method)
    if token is not None:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        with error:
            return error.code, json.loads(error.read() or b"null")


def channels_at(base_url: str) -> dict[str, Any]:
    """The lab's ``GET /api/channels`` report, by channel name."""
    status, body = http_json("GET", f"{base_url}/api/channels")
    assert status == 200, body
    reports: dict[str, Any] = body["channels"]
    return reports


def wait_for_channel(
    base_url: str,
    name: str,
    predicate: Callable[[dict[str, Any]], bool],
    timeout: float = STEP,
    interval: float = 0.2,
) -> dict[str, Any]:
    """Poll the lab until channel ``name`` satisfies ``predicate``; bounded in time."""
    deadline = time.monotonic() + timeout
    report: dict[str, Any] | None = None
    while True:
        report = channels_at(base_url).get(name)
        if report is not None and predicate(report):
            return report
        if time.monotonic() >= deadline:
            raise AssertionError(f"channel {name!r} after {timeout:g} s: {report}")
        time.sleep(interval)


def receiving(report: dict[str, Any]) -> bool:
    """The lab is connected on the channel and decoding both video and audio."""
    return bool(report["connected"] and report["framesDecoded"] > 0 and report["audioFrames"] > 0)


# --- the lab as a process --------------------------------------------------------------


class LabProcess:
    """``alo-edge lab`` on 127.0.0.1:``port`` keeping its credentials in ``state_dir``."""

    def __init__(
        self,
        procs: Processes,
        state_dir: Path,
        port: int | None = None,
        options: Sequence[str] = (),
    ) -> None:
        self._procs = procs
        self.options = list(options)  # more `alo-edge lab` flags
        self.state_dir = state_dir
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: Proc | None = None

    def start(self, timeout: float = STEP) -> None:
        """Start the lab and return once ``GET /api/channels`` answers."""
        self.proc = self._procs.cli(
            "lab",
            "--listen",
            f"127.0.0.1:{self.port}",
            "--state-dir",
            str(self.state_dir),
            *self.options,
            name="lab",
        )
        deadline = time.monotonic() + timeout
        while True:
            if not self.proc.running:
                self.proc.stdout_done()
                raise AssertionError(
                    f"lab exited with {self.proc.popen.returncode}:\n{self.proc.stderr.tail()}"
                )
            try:
                if http_json("GET", f"{self.url}/api/channels", timeout=1.0)[0] == 200:
                    return
            except OSError:
                pass  # not listening yet
            if time.monotonic() >= deadline:
                raise AssertionError(f"lab did not answer within {timeout:g} s")
            time.sleep(0.05)

    def stop(self, timeout: float = STEP) -> int:
        """SIGTERM the lab and wait for it to exit; returns its exit code."""
        assert self.proc is not None
        self.proc.signal(signal.SIGTERM)
        return self.proc.wait(timeout)

    @property
    def api_key(self) -> str:
        return (self.state_dir / "api_key").read_text(encoding="utf-8").strip()

    @property
    def secret(self) -> str:
        return (self.state_dir / "secret").read_text(encoding="utf-8").strip()

    def mint(self, user_id: str, *, ttl_minutes: float = 60.0, now: float | None = None) -> str:
        """A token signed with this lab's secret, as its /v1/auth would mint it."""
        return mint_token(self.secret, user_id, ttl_minutes, time.time() if now is None else now)

    def channels(self) -> dict[str, Any]:
        return channels_at(self.url)

    def wait_for_channel(
        self, name: str, predicate: Callable[[dict[str, Any]], bool], timeout: float = STEP
    ) -> dict[str, Any]:
        return wait_for_channel(self.url, name, predicate, timeout)

    def kick(self, channel: str) -> None:
        """End the channel's live session server-side, as a failing server would."""
        status, body = http_json(
            "POST", f"{self.url}/api/channels/{channel}/kick", token=self.api_key
        )
        assert status == 200, body


# --- device configs --------------------------------------------------------------------


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):  # an inline table (alo.ice_servers entries)
        return "{" + ", ".join(f"{k} = {_toml_value(v)}" for k, v in value.items()) + "}"
    raise TypeError(f"no TOML for {value!r}")


def write_toml(path: Path, document: dict[str, dict[str, Any]]) -> Path:
    """Write ``{section: {key: value}}`` as a TOML file (scalars and lists only)."""
    lines: list[str] = []
    for section, values in document.items():
        lines.append(f"[{section}]")
        lines.extend(f"{key} = {_toml_value(value)}" for key, value in values.items())
        lines.append("")
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def device_config(
    *,
    user_id: str,
    channel: str,
    token_file: Path,
    access_url: str | None = None,
    url: str | None = None,
    reconnect: dict[str, Any] | None = None,
) -> dict[str, dict[str, Any]]:
    """A small test device: loopback only, 320x240 at 30 fps, synthetic audio."""
    alo: dict[str, Any] = {"channel": channel, "token_file": str(token_file)}
    if access_url is not None:
        alo["access_url"] = access_url
    if url is not None:
        alo["url"] = url
    document: dict[str, dict[str, Any]] = {
        "device": {"user_id": user_id},
        "alo": alo,
        "network": {"host_addresses": ["127.0.0.1"]},
        "video": {"source": "synthetic", "width": 320, "height": 240, "fps": 30},
        "audio": {"source": "synthetic"},
        # Devices run side by side in tests: none may claim the default status port.
        "status": {"listen": ""},
    }
    if reconnect:
        document["reconnect"] = dict(reconnect)
    return document


# --- an in-process device's events -----------------------------------------------------


class EventLog:
    """Collects an in-process AloVideo's SDK events in the ``--events`` line shape.

    ``wait_for`` has the same cursor semantics as :class:`EventStream`, so the
    predicates above (``state_is``, ``disconnect_is``) work on both.
    """

    NAMES = ("onConnectionChange", "onDisconnect")

    def __init__(self) -> None:
        self.events: list[Event] = []
        self.cursor = 0
        self._changed = asyncio.Event()

    def attach(self, video: AloVideo) -> None:
        for name in self.NAMES:
            video.events.add_event_listener(name, self._record)

    def _record(self, event: SdkEvent) -> None:
        self.events.append({"ts": time.time(), "event": event.type, "detail": dict(event.detail)})
        self._changed.set()

    async def wait_for(
        self, predicate: Callable[[Event], bool], within: float = STEP, what: str = "an event"
    ) -> Event:
        """The first event after the cursor matching ``predicate``; moves the cursor past it."""
        deadline = time.monotonic() + within
        while True:
            self._changed.clear()
            for index in range(self.cursor, len(self.events)):
                if predicate(self.events[index]):
                    self.cursor = index + 1
                    return self.events[index]
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(
                    f"waited {within:g} s for {what}; events after the cursor:\n"
                    + EventStream.describe(self.events[self.cursor :])
                )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), remaining)
