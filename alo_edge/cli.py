"""The ``alo-edge`` command: run, demo, lab, token, config, check, status.

Exit codes follow sysexits, as systemd's RestartPreventExitStatus expects:
0 clean stop, 78 configuration error, 69 hardware missing, 75 restart requested from
the panel button (systemd's Restart= brings the service back), 1 anything else.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, TextIO

import aiohttp

from alo_edge import __version__
from alo_edge.app import Service, install_stop_signals
from alo_edge.config import Config, load_config, render_config
from alo_edge.errors import AloEdgeError, ConfigError, HardwareError
from alo_edge.secret_files import warn_if_exposed, write_private_file
from alo_edge.session.access import jwt_expiry, read_token, token_path
from alo_edge.system.journal import configure_logging

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_HARDWARE = 69
EXIT_CONFIG = 78
DEFAULT_LAB = "127.0.0.1:8080"
DEFAULT_STATUS_URL = "http://127.0.0.1:8787"


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script; returns the process exit code."""
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        result: int = args.handler(args)
        return result
    except ConfigError as exc:
        print(f"alo-edge: configuration error: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    except HardwareError as exc:
        print(f"alo-edge: hardware missing: {exc}", file=sys.stderr)
        return EXIT_HARDWARE
    except AloEdgeError as exc:
        print(f"alo-edge: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    except KeyboardInterrupt:
        return EXIT_OK


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="alo-edge", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"alo-edge {__version__}")
    commands = parser.add_subparsers(required=True, metavar="COMMAND")

    run = commands.add_parser("run", help="run the device service")
    run.add_argument("-c", "--config", required=True, type=Path, help="TOML config file")
    run.add_argument("--events", metavar="FILE|-", help="write every SDK event as a JSON line")
    run.set_defaults(handler=_run)

    demo = commands.add_parser("demo", help="the lab and a synthetic device in one process")
    demo.add_argument("--duration", type=float, help="stop after S seconds (default: Ctrl-C)")
    demo.add_argument("--events", metavar="FILE|-", help="write every SDK event as a JSON line")
    demo.add_argument("--lab-listen", default="127.0.0.1:0", metavar="HOST:PORT")
    demo.set_defaults(handler=_demo)

    lab = commands.add_parser("lab", help="run the ALO-compatible development service")
    lab.add_argument("--listen", default=DEFAULT_LAB, metavar="HOST:PORT")
    lab.add_argument("--state-dir", type=Path, default=_default_lab_state())
    lab.add_argument(
        "--host-address",
        action="append",
        metavar="IP",
        help="ICE host candidate address (default: the listen address when it is loopback)",
    )
    lab.set_defaults(handler=_lab)

    token = commands.add_parser("token", help="get a device token from a lab")
    token.add_argument("--lab", default=f"http://{DEFAULT_LAB}", metavar="URL")
    token.add_argument("--api-key-file", type=Path, default=_default_lab_state() / "api_key")
    token.add_argument("--user", required=True, help="the user id the token is for")
    token.add_argument("--ttl", type=float, default=60.0, help="minutes (default 60)")
    token.add_argument("--out", type=Path, help="write the token to FILE (0600) instead of stdout")
    token.set_defaults(handler=_token)

    config = commands.add_parser("config", help="print the effective config, secrets masked")
    config.add_argument("-c", "--config", required=True, type=Path)
    config.set_defaults(handler=_config)

    check = commands.add_parser("check", help="check the config and the GPIO pins it names")
    check.add_argument("-c", "--config", required=True, type=Path)
    check.set_defaults(handler=_check)

    status = commands.add_parser("status", help="show a running device's state, for a person")
    status.add_argument(
        "--url", default=DEFAULT_STATUS_URL, metavar="URL", help="its status.listen endpoint"
    )
    status.add_argument("--json", action="store_true", help="print GET /status as it came")
    status.set_defaults(handler=_status)
    return parser


def _default_lab_state() -> Path:
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "alo-edge" / "lab"


def _split_listen(value: str) -> tuple[str, int]:
    host, _, port = value.rpartition(":")
    if not host or not port.isdigit():
        raise ConfigError(f"expected HOST:PORT, got {value!r}", key="--listen")
    return host.strip("[]"), int(port)


@contextlib.contextmanager
def _event_stream(target: str | None) -> Iterator[TextIO | None]:
    if target is None:
        yield None
    elif target == "-":
        yield sys.stdout
    else:
        with open(target, "a", encoding="utf-8") as stream:
            yield stream


# --- run -------------------------------------------------------------------------------


def _run(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    configure_logging(
        config.log.level,
        config.log.format,
        static_fields={"ALO_CHANNEL": config.alo.channel, "ALO_DEVICE_ID": config.device.device_id},
    )
    _warn_exposed_secrets(config, args.config)
    with _event_stream(args.events) as events:
        service = Service(config, config_path=args.config, events=events)
        return asyncio.run(service.run())


def _warn_exposed_secrets(config: Config, config_path: Path) -> None:
    """Warn at startup about a token file, or a config holding an ICE credential, that
    other users can read (the token itself is never logged)."""
    # No token configured: the session reports that on its first attempt.
    with contextlib.suppress(AloEdgeError):
        warn_if_exposed(token_path(config), "token file")
    if any(server.credential for server in config.alo.ice_servers):
        warn_if_exposed(config_path, "config file (it holds an ICE credential)", group_too=False)


# --- demo ------------------------------------------------------------------------------


def _demo(args: argparse.Namespace) -> int:
    from alo_edge.tools.demo import run_demo  # a development tool: the service never needs it

    configure_logging("warning", "text")
    host, port = _split_listen(args.lab_listen)
    with _event_stream(args.events) as events:
        person = sys.stderr if events is sys.stdout else sys.stdout
        asyncio.run(
            run_demo(host=host, port=port, duration=args.duration, events=events, person=person)
        )
    return EXIT_OK


# --- lab -------------------------------------------------------------------------------


def _lab(args: argparse.Namespace) -> int:
    from alo_edge.lab import LabServer, LabSettings, load_or_create_credentials

    configure_logging("info", "text")
    host, port = _split_listen(args.listen)
    api_key, secret = load_or_create_credentials(args.state_dir)
    addresses = args.host_address or ([host] if host.startswith("127.") or host == "::1" else [])
    settings = LabSettings(
        api_key=api_key, secret=secret, host=host, port=port, host_addresses=tuple(addresses)
    )

    async def serve() -> None:
        lab = LabServer(settings)
        await lab.start()
        print(
            f"lab: {lab.url}\napi key: {args.state_dir / 'api_key'}\n"
            f"token: alo-edge token --lab {lab.url} --user ID --out token",
            flush=True,
        )
        stop = asyncio.Event()
        remove_signals = install_stop_signals(stop)
        try:
            await stop.wait()
        finally:
            remove_signals()
            await lab.stop()

    asyncio.run(serve())
    return EXIT_OK


# --- token -----------------------------------------------------------------------------


def _token(args: argparse.Namespace) -> int:
    try:
        api_key = args.api_key_file.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise AloEdgeError(
            f"cannot read the lab API key {args.api_key_file}: {exc.strerror}"
        ) from None
    from alo_edge.lab.client import request_token  # only this command talks to a lab

    token = asyncio.run(request_token(args.lab, api_key, args.user, args.ttl))
    if args.out is None:
        print(token)
    else:
        write_private_file(args.out, token + "\n")
        print(f"token for {args.user!r} written to {args.out}", file=sys.stderr)
    return EXIT_OK


# --- config ----------------------------------------------------------------------------


def _config(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    print(render_config(config), end="")
    print(f"# token: {_describe_token(config)}")
    return EXIT_OK


# --- status ----------------------------------------------------------------------------


def _status(args: argparse.Namespace) -> int:
    import json

    from alo_edge.system.status import describe_status

    url = args.url.rstrip("/")
    url = url if url.endswith("/status") else f"{url}/status"
    status = asyncio.run(_get_status(url))
    print(json.dumps(status, indent=2) if args.json else describe_status(status))
    return EXIT_OK


async def _get_status(url: str) -> dict[str, Any]:
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


# --- check -----------------------------------------------------------------------------


def _check(args: argparse.Namespace) -> int:
    from alo_edge.panel.gpio import check_panel_pins

    config = load_config(args.config)
    print(f"config: {args.config} is valid")
    print(f"token: {_describe_token(config)}")
    if not config.gpio.enabled:
        print("gpio: disabled (gpio.enabled = false)")
        return EXIT_OK
    # Raises HardwareError (exit 69) when no factory loads or a pin is taken or invalid.
    backend, pins = check_panel_pins(config.gpio)
    print(f"gpio backend: {backend}")
    for role, where in pins:
        print(f"gpio {role}: {where}")
    print("gpio: ok (every pin claimed and released)")
    return EXIT_OK


def _describe_token(config: Config) -> str:
    """Where the token comes from and whether it is usable; never the token itself."""
    try:
        path = token_path(config)
        token = read_token(path)
        expiry = jwt_expiry(token)
    except AloEdgeError as exc:
        return f"unusable: {exc}"
    when = "no expiry" if expiry is None else f"expires {_iso(expiry)}"
    return f"from {path} (value masked, {len(token)} characters, {when})"


def _iso(epoch: float) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="seconds")


if __name__ == "__main__":
    sys.exit(main())
