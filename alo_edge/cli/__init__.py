"""The ``alo-edge`` command: run, demo, lab, token, config, check, status, selftest.

Exit codes follow sysexits, as systemd's RestartPreventExitStatus expects
(:class:`~alo_edge.errors.ExitCode`): 0 clean stop, 78 configuration error, 69 hardware
missing, 75 restart requested from the panel button (systemd's Restart= brings the
service back), 2 a command line argparse cannot parse, 1 anything else.

The parser is here; the commands are in :mod:`.service` (run, demo, lab, token) and
:mod:`.inspection` (config, status, check) and :mod:`.selftest`, imported only when
one of them runs, so ``--help`` starts without the WebRTC stack.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from alo_edge import __version__
from alo_edge.errors import AloEdgeError, ConfigError, ExitCode, HardwareError

DESCRIPTION = (__doc__ or "").splitlines()[0]
DEFAULT_LAB = "127.0.0.1:8080"
DEFAULT_STATUS_LISTEN = "127.0.0.1:8787"


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script; returns the process exit code."""
    parser = _parser()
    args = parser.parse_args(argv)
    module, _, name = args.handler.partition(":")
    try:
        # Each command imports what it needs when it runs (--help loads nothing heavy).
        handler = getattr(importlib.import_module(f"alo_edge.cli.{module}"), name)
        result: int = handler(args)
        return result
    except ConfigError as exc:
        print(f"alo-edge: configuration error: {exc}", file=sys.stderr)
        return exc.exit_code
    except HardwareError as exc:
        print(f"alo-edge: hardware missing: {exc}", file=sys.stderr)
        return exc.exit_code
    except AloEdgeError as exc:
        print(f"alo-edge: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        return ExitCode.OK


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="alo-edge", description=DESCRIPTION)
    parser.add_argument("--version", action="version", version=f"alo-edge {__version__}")
    commands = parser.add_subparsers(required=True, metavar="COMMAND")

    run = commands.add_parser("run", help="run the device service")
    run.add_argument("-c", "--config", required=True, type=Path, help="TOML config file")
    run.add_argument("--events", metavar="FILE|-", help="write every SDK event as a JSON line")
    run.set_defaults(handler="service:run")

    demo = commands.add_parser("demo", help="the lab and a synthetic device in one process")
    demo.add_argument("--duration", type=float, help="stop after S seconds (default: Ctrl-C)")
    demo.add_argument("--events", metavar="FILE|-", help="write every SDK event as a JSON line")
    demo.add_argument("--lab-listen", default="127.0.0.1:0", metavar="HOST:PORT")
    demo.set_defaults(handler="service:demo")

    lab = commands.add_parser("lab", help="run the ALO-compatible development service")
    lab.add_argument("--listen", default=DEFAULT_LAB, metavar="HOST:PORT")
    lab.add_argument("--state-dir", type=Path, default=_default_lab_state())
    lab.add_argument(
        "--client-token-ttl",
        type=float,
        default=600.0,
        metavar="S",
        help="seconds a token from the client-credentials endpoint lives (default 600)",
    )
    lab.add_argument(
        "--end-sessions-at-expiry",
        action="store_true",
        help="end a WHIP session when the token it was published with expires",
    )
    lab.add_argument(
        "--host-address",
        action="append",
        metavar="IP",
        help="ICE host candidate address (default: the listen address when it is loopback)",
    )
    lab.add_argument(
        "--turn", action="append", metavar="URL", help="a TURN URL for devices (repeat, in order)"
    )
    lab.add_argument(
        "--turn-secret-file",
        type=Path,
        metavar="FILE",
        help="the TURN server's shared secret: access answers carry short-lived credentials",
    )
    lab.set_defaults(handler="service:lab")

    token = commands.add_parser(
        "token", help="get a device token, or client credentials (--client), from a lab"
    )
    token.add_argument("--lab", default=f"http://{DEFAULT_LAB}", type=_lab_url, metavar="URL")
    token.add_argument(
        "--wait",
        type=float,
        default=10.0,
        metavar="S",
        help="wait up to S seconds for a lab that is starting (default 10)",
    )
    token.add_argument("--api-key-file", type=Path, default=_default_lab_state() / "api_key")
    token.add_argument("--user", help="the user id the token is for (--client: it acts as)")
    token.add_argument(
        "--client",
        metavar="ID",
        help="issue a client secret for alo.token_url instead of a token (the client id)",
    )
    token.add_argument("--ttl", type=float, default=60.0, help="minutes (default 60)")
    token.add_argument(
        "--out", type=Path, help="write the token or secret to FILE (0600) instead of stdout"
    )
    token.set_defaults(handler="service:token")

    config = commands.add_parser("config", help="print the effective config, secrets masked")
    config.add_argument("-c", "--config", required=True, type=Path)
    config.set_defaults(handler="inspection:config")

    check = commands.add_parser(
        "check",
        help="pre-flight: config, token, server, camera, microphone, speaker, GPIO pins",
        description="One line per check, with the fix; exit 0 when the device would work, "
        "69 when hardware fails, 78 when the config does, 1 for anything else.",
    )
    check.add_argument("-c", "--config", required=True, type=Path)
    check.add_argument("--json", action="store_true", help="print one JSON document")
    check.add_argument("--only", metavar="NAMES", help="run only these checks (comma list)")
    check.add_argument("--skip", metavar="NAMES", help="skip these checks (comma list)")
    check.set_defaults(handler="inspection:check")

    status = commands.add_parser("status", help="show a running device's state, for a person")
    status.add_argument(
        "--url",
        default=DEFAULT_STATUS_LISTEN,
        type=_status_url,
        metavar="HOST:PORT|URL",
        help=f"its status.listen (default {DEFAULT_STATUS_LISTEN}), or an http:// URL",
    )
    status.add_argument("--json", action="store_true", help="print GET /status as it came")
    status.set_defaults(handler="inspection:status")

    selftest = commands.add_parser(
        "selftest", help="play a sweep on the speaker, record it: exit 0 when both work"
    )
    selftest.add_argument("-c", "--config", required=True, type=Path)
    selftest.add_argument("--json", action="store_true", help="print the result as JSON")
    selftest.set_defaults(handler="selftest:selftest")
    return parser


def _status_url(value: str) -> str:
    # argparse types, imported only when parsed: --help never pays for the config package.
    from alo_edge.cli.local_http import status_url

    return status_url(value)


def _lab_url(value: str) -> str:
    from alo_edge.cli.local_http import lab_url

    return lab_url(value)


def _default_lab_state() -> Path:
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "alo-edge" / "lab"
