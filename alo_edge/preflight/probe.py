"""One HTTP request taken apart step by step, so a pre-flight line names the step that failed.

A device that cannot reach its server fails at one of four steps, each with its own
fix: the name does not resolve (DNS), nothing answers on the port (TCP), the
certificate is not trusted or not valid yet (TLS: often a clock without NTP), or the
server answers something unusable (HTTP). aiohttp reports all four as one
``ClientConnectorError`` and costs ~0.2 s of import, so this uses the standard
library (``socket``, ``ssl``, ``http.client``), blocking, in a worker thread, each
step bounded by ``timeout``. No proxy is consulted: the device does not use one either.
"""

from __future__ import annotations

import http.client
import socket
import ssl
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit

#: Scheme -> (default port, whether TLS is spoken).
SCHEMES = {"http": (80, False), "https": (443, True), "ws": (80, False), "wss": (443, True)}
MAX_BODY_BYTES = 64 * 1024
#: OpenSSL's verify codes for a certificate outside its validity dates.
_NOT_YET_VALID, _EXPIRED = 9, 10


class ProbeError(Exception):
    """A step failed: ``step`` is DNS, TCP, TLS or HTTP; the message says how, on one line."""

    def __init__(self, step: str, message: str, *, clock_suspect: bool = False) -> None:
        super().__init__(f"{step}: {message}")
        self.step = step
        #: True when a wrong clock would explain the failure (certificate dates).
        self.clock_suspect = clock_suspect


@dataclass(frozen=True)
class Target:
    """Where a URL points: scheme, host, port, the request path, and whether TLS is used."""

    scheme: str
    host: str
    port: int
    path: str
    tls: bool

    @classmethod
    def parse(cls, url: str) -> Target:
        """``http(s)://`` or ``ws(s)://`` URL -> Target; anything else is a ProbeError."""
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        if scheme not in SCHEMES or not parts.hostname:
            raise ProbeError("URL", f"{url!r} is not an http(s):// or ws(s):// URL")
        default_port, tls = SCHEMES[scheme]
        try:
            port = parts.port or default_port
        except ValueError:
            raise ProbeError("URL", f"{url!r} has an invalid port") from None
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        return cls(scheme, parts.hostname, port, path, tls)


@dataclass(frozen=True)
class Answer:
    """An HTTP answer: status, headers (lower-case names), at most MAX_BODY_BYTES of body."""

    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""

    def server_time(self) -> float | None:
        """The server's clock from its ``Date`` header (epoch seconds), if it sent one."""
        try:
            return parsedate_to_datetime(self.headers["date"]).timestamp()
        except (KeyError, TypeError, ValueError):
            return None


def open_socket(target: Target, timeout: float) -> socket.socket:
    """DNS, TCP, then TLS when the scheme wants it: a connected socket, or a ProbeError."""
    try:
        addresses = socket.getaddrinfo(target.host, target.port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise ProbeError("DNS", f"cannot resolve {target.host} ({exc.strerror})") from None
    sock = _connect(target, addresses, timeout)
    if not target.tls:
        return sock
    context = ssl.create_default_context()
    try:
        return context.wrap_socket(sock, server_hostname=target.host)
    except ssl.SSLCertVerificationError as exc:
        sock.close()
        suspect = exc.verify_code in (_NOT_YET_VALID, _EXPIRED)
        raise ProbeError("TLS", _one_line(exc.verify_message), clock_suspect=suspect) from None
    except (ssl.SSLError, OSError) as exc:
        sock.close()
        raise ProbeError("TLS", f"handshake failed ({_reason(exc)})") from None


def _connect(target: Target, addresses: list[tuple[Any, ...]], timeout: float) -> socket.socket:
    failure: OSError | None = None
    for family, kind, proto, _, address in addresses:
        sock = socket.socket(family, kind, proto)
        sock.settimeout(timeout)
        try:
            sock.connect(address)
            return sock
        except OSError as exc:
            sock.close()
            failure = exc
    if isinstance(failure, TimeoutError):
        raise ProbeError("TCP", f"no answer within {timeout:g} s")
    raise ProbeError("TCP", _reason(failure))


def request(
    url: str,
    method: str,
    *,
    headers: dict[str, str] | None = None,
    body: bytes | None = None,
    timeout: float = 5.0,
) -> Answer:
    """One request through every step; blocking (``alo-edge check`` runs one check at a time)."""
    target = Target.parse(url)
    sock = open_socket(target, timeout)
    connection = http.client.HTTPConnection(target.host, target.port, timeout=timeout)
    connection.sock = sock  # the socket is ours, already connected (and wrapped)
    try:
        connection.request(method, target.path, body=body, headers=headers or {})
        response = connection.getresponse()
        data = response.read(MAX_BODY_BYTES)
        names = {name.lower(): value for name, value in response.getheaders()}
        return Answer(response.status, names, data)
    except TimeoutError:
        raise ProbeError("HTTP", f"no answer within {timeout:g} s") from None
    except (http.client.HTTPException, OSError) as exc:
        raise ProbeError("HTTP", f"no usable answer ({_reason(exc)})") from None
    finally:
        connection.close()


def _reason(exc: BaseException | None) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror.lower() if exc.strerror[:1].isupper() else exc.strerror
    return _one_line(str(exc) or type(exc).__name__)


def _one_line(text: str | None) -> str:
    return " ".join((text or "").split())[:200]
