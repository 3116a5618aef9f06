"""The commands that run something: ``run`` (the service), ``demo``, ``lab``, ``token``."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TextIO

from alo_edge.config import Config, Listen, load_config
from alo_edge.errors import AloEdgeError, ExitCode
from alo_edge.secret_files import warn_if_exposed, write_private_file
from alo_edge.session.access import client_secret_path, token_path
from alo_edge.system.journal import configure_logging


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


def run(args: argparse.Namespace) -> int:
    from alo_edge.app import Service

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
        if config.alo.token_url:
            warn_if_exposed(client_secret_path(config), "client secret file")
        else:
            warn_if_exposed(token_path(config), "token file")
    if any(server.credential for server in config.alo.ice_servers):
        warn_if_exposed(config_path, "config file (it holds an ICE credential)", group_too=False)


# --- demo ------------------------------------------------------------------------------


def demo(args: argparse.Namespace) -> int:
    from alo_edge.tools.demo import run_demo  # a development tool: the service never needs it

    configure_logging("warning", "text")
    listen = Listen.parse(args.lab_listen, "--lab-listen", allow_off=False)
    with _event_stream(args.events) as events:
        person = sys.stderr if events is sys.stdout else sys.stdout
        asyncio.run(
            run_demo(
                host=listen.host,
                port=listen.port,
                duration=args.duration,
                events=events,
                person=person,
            )
        )
    return ExitCode.OK


# --- lab -------------------------------------------------------------------------------


def lab(args: argparse.Namespace) -> int:
    from alo_edge.app import install_stop_signals
    from alo_edge.lab import LabServer, LabSettings, load_or_create_credentials

    configure_logging("info", "text")
    listen = Listen.parse(args.listen, "--listen", allow_off=False)
    host, port = listen.host, listen.port
    api_key, secret = load_or_create_credentials(args.state_dir)
    addresses = args.host_address or ([host] if host.startswith("127.") or host == "::1" else [])
    turn_secret = None
    if args.turn_secret_file is not None:
        turn_secret = args.turn_secret_file.read_text(encoding="utf-8").strip()
    settings = LabSettings(
        api_key=api_key,
        secret=secret,
        host=host,
        port=port,
        host_addresses=tuple(addresses),
        client_token_ttl=args.client_token_ttl,
        end_sessions_at_expiry=args.end_sessions_at_expiry,
        clients_file=args.state_dir / "clients.json",
        turn_urls=tuple(args.turn or ()),
        turn_secret=turn_secret,
    )

    async def serve() -> None:
        lab = LabServer(settings)
        await lab.start()
        print(
            f"lab: {lab.url}\napi key: {args.state_dir / 'api_key'}\n"
            f"token: alo-edge token --lab {lab.url} --user ID --out token\n"
            f"client credentials: alo-edge token --lab {lab.url} --client ID --out secret "
            f"(token_url {lab.url}/v1/oauth/token)",
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
    return ExitCode.OK


# --- token -----------------------------------------------------------------------------


def token(args: argparse.Namespace) -> int:
    if not args.user and not args.client:
        raise AloEdgeError("say who for: --user ID (a token) or --client ID (a client secret)")
    from alo_edge.lab.client import LabClient, LabUnreachableError  # only this command

    async def fetch() -> tuple[str, str | None]:
        async with LabClient(args.lab) as lab:
            # Pasted right after `alo-edge lab &`, the lab is still starting: wait for it.
            try:
                await lab.wait_until_answering(args.wait)
            except LabUnreachableError:
                raise AloEdgeError(
                    f"no lab at {args.lab} (nothing answered within {args.wait:g} s): "
                    "start `alo-edge lab` first"
                ) from None
            if args.client:
                return await lab.issue_client(_lab_api_key(args), args.client, args.user)
            return await lab.request_token(_lab_api_key(args), args.user, args.ttl), None

    value, token_url = asyncio.run(fetch())
    if args.client:
        _write_secret(args.out, value, f"client secret for {args.client!r}")
        print(
            f"alo.token_url = {token_url!r}, alo.client_id = {args.client!r}; the secret is "
            "alo.client_secret_file or the systemd credential alo-client-secret",
            file=sys.stderr,
        )
    else:
        _write_secret(args.out, value, f"token for {args.user!r}")
    return ExitCode.OK


def _write_secret(out: Path | None, value: str, what: str) -> None:
    if out is None:
        print(value)
    else:
        write_private_file(out, value + "\n")
        print(f"{what} written to {out}", file=sys.stderr)


def _lab_api_key(args: argparse.Namespace) -> str:
    # Read once the lab answers: a lab creates its key when it first starts.
    try:
        return str(args.api_key_file.read_text(encoding="utf-8").strip())
    except OSError as exc:
        raise AloEdgeError(
            f"cannot read the lab API key {args.api_key_file}: {exc.strerror} (a lab started "
            "with another --state-dir or HOME? `alo-edge lab` prints where its key is: "
            "pass it with --api-key-file)"
        ) from None
