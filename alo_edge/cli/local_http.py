"""The command line's addresses of local servers (``--url``, ``--lab``), and ``alo-edge
status``'s one request, ``GET /status``, made with the standard library only.

The status endpoint is local (``status.listen``, loopback by default), so no proxy is
consulted and aiohttp's import (~0.2 s on a Pi Zero's budget) is not paid. ``--url``
takes what ``status.listen`` holds (``127.0.0.1:8787``, ``[::1]:8787``) as well as a
URL (``http://10.0.0.5:8787``, with or without ``/status``).
"""

from __future__ import annotations

import argparse
import http.client
import json
from typing import Any
from urllib.parse import urlsplit

from alo_edge.errors import AloEdgeError

TIMEOUT = 5.0
MAX_BODY_BYTES = 1024 * 1024
EXAMPLE_LISTEN = "127.0.0.1:8787"


def host_port(value: str) -> str | None:
    """``HOST:PORT`` as ``status.listen`` writes it (``[::1]:8787`` for IPv6) -> the same,
    checked; None when it is not one. urllib parses it, so the config package (whose
    ``Listen`` reads the same syntax) is not imported just for this."""
    try:
        parts = urlsplit(f"http://{value}")
        port = parts.port
    except ValueError:
        return None
    if not parts.hostname or port is None or parts.path or parts.query or parts.username:
        return None
    return parts.netloc


def status_url(value: str) -> str:
    """``--url``: HOST:PORT or an http:// URL -> the URL of ``/status`` (argparse type)."""
    if "://" not in value:
        listen = host_port(value)
        if listen is None:
            raise argparse.ArgumentTypeError(
                f"expected HOST:PORT (status.listen, e.g. {EXAMPLE_LISTEN}) or an http:// URL, "
                f"got {value!r}"
            )
        value = f"http://{listen}"
    parts = urlsplit(value)
    if parts.scheme != "http" or not parts.hostname:
        raise argparse.ArgumentTypeError(f"expected an http:// URL, got {value!r}")
    base = value.rstrip("/")
    return base if base.endswith("/status") else f"{base}/status"


def lab_url(value: str) -> str:
    """``--lab``: an http(s):// URL, or HOST:PORT for ``http://HOST:PORT`` (argparse type)."""
    if "://" not in value:
        listen = host_port(value)
        if listen is None:
            raise argparse.ArgumentTypeError(f"expected a URL or HOST:PORT, got {value!r}")
        value = f"http://{listen}"
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise argparse.ArgumentTypeError(f"expected an http:// URL, got {value!r}")
    return value.rstrip("/")


def get_status(url: str) -> dict[str, Any]:
    """The device's ``GET /status`` document; one-line AloEdgeError when there is none."""
    parts = urlsplit(url)
    assert parts.hostname is not None  # status_url() checked it
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    connection = http.client.HTTPConnection(parts.hostname, parts.port or 80, timeout=TIMEOUT)
    try:
        connection.request("GET", path, headers={"Accept": "application/json"})
        response = connection.getresponse()
        body = response.read(MAX_BODY_BYTES)
    except TimeoutError:
        raise AloEdgeError(_no_status(url, f"no answer within {TIMEOUT:g} s")) from None
    except (OSError, http.client.HTTPException) as exc:
        raise AloEdgeError(_no_status(url, _reason(exc))) from None
    finally:
        connection.close()
    if response.status != 200:
        raise AloEdgeError(f"{url} answered HTTP {response.status}: is it alo-edge's status?")
    try:
        document = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        document = None
    if not isinstance(document, dict):
        raise AloEdgeError(f"{url} did not answer with a JSON object: is it alo-edge's?")
    return document


def _no_status(url: str, why: str) -> str:
    return (
        f"no status at {url} ({why}): is the service running (`systemctl status alo-edge`), "
        "and is status.listen set to this address?"
    )


def _reason(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror[:1].lower() + exc.strerror[1:]
    return " ".join(str(exc).split())[:200] or type(exc).__name__
