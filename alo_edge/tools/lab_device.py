"""A local lab, a device token for it, and a device config pointing at it.

The demo and the benches each run a device against a lab on this machine, and each needs
the same three things: a lab with throwaway credentials, the device's credential (a token
minted by the lab's own ``POST /v1/auth``, as ``alo-edge token`` does, and a client secret
for the lab's token endpoint, as ``alo-edge token --client`` issues it; both in 0600
files), and a device config that reaches the lab through the access step over loopback only.
They get them here, so the way a tool's device meets its lab is written once.
"""

from __future__ import annotations

import contextlib
import secrets
import tempfile
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from alo_edge.config import Config, config_from_dict
from alo_edge.lab import LabServer, LabSettings
from alo_edge.lab.client import DEFAULT_TIMEOUT, LabClient
from alo_edge.lab.oauth import TOKEN_PATH
from alo_edge.secret_files import write_private_file

LOOPBACK = "127.0.0.1"


def throwaway_settings(host: str = LOOPBACK, port: int = 0) -> LabSettings:
    """Lab settings with a fresh random API key and signing secret.

    For a lab that lives exactly as long as the tool that started it: nothing is stored,
    and no token it mints is worth anything once it stops.
    """
    return LabSettings(
        api_key=secrets.token_urlsafe(32), secret=secrets.token_urlsafe(32), host=host, port=port
    )


async def write_device_token(
    lab: LabClient, api_key: str, user_id: str, path: Path, *, ttl_minutes: float = 60.0
) -> Path:
    """Mint a token for ``user_id`` by the lab's ``POST /v1/auth``; write it to ``path``, 0600."""
    token = await lab.request_token(api_key, user_id, ttl_minutes)
    write_private_file(path, token + "\n")
    return path


def device_config(
    lab_url: str,
    token_file: Path | str | None,
    *,
    channel: str,
    device: Mapping[str, Any],
    client_secret_file: Path | None = None,
    **sections: Mapping[str, Any],
) -> Config:
    """A device config publishing into ``channel`` of the lab at ``lab_url``.

    The device takes the access step with the token in ``token_file``, or, given
    ``client_secret_file``, with tokens it fetches and renews itself at the lab's token
    endpoint as the client named like its user. It offers only loopback ICE candidates.
    ``device`` is the ``[device]`` table (``user_id`` at least); ``sections`` are the other
    tables (``video``, ``audio``, ``gpio``, ``reconnect``...), validated exactly as the
    service validates its config file.
    """
    alo: dict[str, Any] = {"access_url": f"{lab_url}/v1/video/access", "channel": channel}
    if client_secret_file is not None:
        alo.update(
            token_url=f"{lab_url}{TOKEN_PATH}",
            client_id=str(device["user_id"]),
            client_secret_file=str(client_secret_file),
        )
    elif token_file is not None:
        alo["token_file"] = str(token_file)
    return config_from_dict(
        {
            "device": dict(device),
            "alo": alo,
            "network": {"host_addresses": [LOOPBACK]},
            **{name: dict(table) for name, table in sections.items()},
        }
    )


@dataclass(frozen=True)
class LabDevice:
    """A running lab in this process and a device's token for it.

    ``workdir`` is a private temporary directory that lives as long as the lab; the token
    file is in it, and a tool may keep its own scratch files there.
    """

    lab: LabServer
    user_id: str
    token_file: Path
    workdir: Path
    #: The secret of the client named like the user, for the lab's token endpoint.
    client_secret_file: Path

    @property
    def url(self) -> str:
        """The lab's base URL."""
        return self.lab.url

    def client(self, *, timeout: float = DEFAULT_TIMEOUT) -> LabClient:
        """A :class:`LabClient` for this lab (``async with device.client() as lab``)."""
        return LabClient(self.url, timeout=timeout)

    def config(
        self,
        channel: str,
        *,
        device: Mapping[str, Any] | None = None,
        token_url: bool = False,
        **sections: Mapping[str, Any],
    ) -> Config:
        """:func:`device_config` for this lab and token (``token_url``: the client secret
        instead); ``[device]`` defaults to the user id."""
        table = {"user_id": self.user_id, **(device or {})}
        secret = self.client_secret_file if token_url else None
        return device_config(
            self.url,
            self.token_file,
            channel=channel,
            device=table,
            client_secret_file=secret,
            **sections,
        )


@contextlib.asynccontextmanager
async def local_lab(
    user_id: str,
    *,
    host: str = LOOPBACK,
    port: int = 0,
    ttl_minutes: float = 60.0,
    prefix: str = "alo-edge-",
) -> AsyncIterator[LabDevice]:
    """``async with local_lab("door") as device``: a lab on ``host``:``port`` (0: any free
    port) with throwaway credentials, and a token for ``user_id``; both gone on exit."""
    lab = LabServer(throwaway_settings(host, port))
    await lab.start()
    try:
        with tempfile.TemporaryDirectory(prefix=prefix) as tmp:
            workdir = Path(tmp)
            async with LabClient(lab.url) as client:
                token_file = await write_device_token(
                    client,
                    lab.settings.api_key,
                    user_id,
                    workdir / "token",
                    ttl_minutes=ttl_minutes,
                )
                secret, _ = await client.issue_client(lab.settings.api_key, user_id)
            secret_file = workdir / "client-secret"
            write_private_file(secret_file, secret + "\n")
            yield LabDevice(
                lab=lab,
                user_id=user_id,
                token_file=token_file,
                workdir=workdir,
                client_secret_file=secret_file,
            )
    finally:
        await lab.stop()
