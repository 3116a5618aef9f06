"""URLs as the device handles them: origins, loopback, plain-text transport, masking.

Pure functions on strings (standard library only), so the config loader, the CLI's
light commands, the transports and the log handlers all share one reading of a URL.

- An *origin* is RFC 6454's (scheme, host, port). A credential goes only to the
  origin it was issued for. WebSocket URLs count as their HTTP twins (``ws`` as
  ``http``, ``wss`` as ``https``): a Janus at ``wss://sfu.example`` is the same
  origin as ``https://sfu.example``, as it is the same server and the same TLS.
- *Plain* URLs (``http``, ``ws``) carry a bearer in the clear: only to loopback,
  unless the operator says otherwise (``network.allow_insecure``).
- A URL may carry secrets in its userinfo (``user:password@``), its query
  (``?token=...``) or its fragment; :func:`mask_url` hides them wherever a URL is
  shown (``alo-edge config``, logs, ``STATUS=``, ``/status``).
"""

from __future__ import annotations

import ipaddress
import re
from urllib.parse import SplitResult, urlsplit, urlunsplit

#: What a masked secret reads as.
MASK = "***"
#: Scheme -> (the scheme its origin counts as, its default port).
_SCHEMES = {
    "http": ("http", 80),
    "https": ("https", 443),
    "ws": ("http", 80),
    "wss": ("https", 443),
}
PLAIN_SCHEMES = frozenset({"http", "ws"})
#: Something that looks like an absolute URL inside free text (an error message, a log line).
_URL_IN_TEXT = re.compile(r"\b[A-Za-z][A-Za-z0-9+.-]*://[^\s\"'<>`]+")
#: Punctuation that ends a sentence rather than the URL it follows.
_TRAILING = ".,;:!?)]}'\""


def _split(url: str) -> SplitResult | None:
    try:
        parts = urlsplit(url.strip())
        parts.port  # noqa: B018  (raises ValueError for a port that is not a number)
    except ValueError:
        return None
    return parts


def origin_of(url: str) -> str | None:
    """``scheme://host:port`` of an http(s) or ws(s) URL (ws as http); None if it has none.

    >>> origin_of("wss://SFU.example.net/janus")
    'https://sfu.example.net:443'
    """
    parts = _split(url)
    if parts is None or parts.scheme.lower() not in _SCHEMES or not parts.hostname:
        return None
    scheme, default_port = _SCHEMES[parts.scheme.lower()]
    host = parts.hostname.lower()
    shown = f"[{host}]" if ":" in host else host
    return f"{scheme}://{shown}:{parts.port or default_port}"


def same_origin(url: str, other: str) -> bool:
    """True when both URLs have an origin and it is the same one."""
    origin = origin_of(url)
    return origin is not None and origin == origin_of(other)


def has_userinfo(url: str) -> bool:
    """True when ``url`` carries ``user[:password]@`` (credentials of its own)."""
    parts = _split(url)
    return parts is not None and "@" in parts.netloc


def is_loopback_host(host: str) -> bool:
    """``localhost`` (and ``*.localhost``) or an address in 127.0.0.0/8 or ``::1``."""
    host = host.strip("[]").lower().rstrip(".")
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def is_plain(url: str) -> bool:
    """True for ``http://`` and ``ws://`` URLs: what they carry travels in the clear."""
    parts = _split(url)
    return parts is not None and parts.scheme.lower() in PLAIN_SCHEMES


def plain_url_problem(url: str, *, allow_insecure: bool) -> str | None:
    """Why ``url`` may not be used, or None: not http(s)/ws(s) with a host, credentials in
    its userinfo, or plain text to a host that is not loopback (unless ``allow_insecure``).
    """
    parts = _split(url)
    if parts is None or parts.scheme.lower() not in _SCHEMES or not parts.hostname:
        return f"{mask_url(url)!r} is not an http(s) or ws(s) URL with a host"
    if "@" in parts.netloc:
        return (
            f"{mask_url(url)!r} carries a user name or password: the device sends its own "
            "bearer token, so a URL must not hold credentials"
        )
    if allow_insecure or parts.scheme.lower() not in PLAIN_SCHEMES:
        return None
    if is_loopback_host(parts.hostname):
        return None
    return (
        f"plain {parts.scheme.lower()}:// to {parts.hostname} would send the token in the "
        f"clear: use {parts.scheme.lower()}s://, or set network.allow_insecure = true "
        "(a lab on a trusted LAN)"
    )


def is_downgrade(source: str, target: str) -> bool:
    """True when going from ``source`` to ``target`` drops TLS (https -> http, wss -> ws)."""
    return not is_plain(source) and is_plain(target) and origin_of(source) is not None


def mask_url(url: str) -> str:
    """``url`` with its userinfo, query values and fragment replaced by ``***``.

    Query keys stay (``?token=***&room=***``): they tell a person which URL it was.
    A URL without any of them comes back unchanged; so does text that is no URL.
    """
    parts = _split(url)
    if parts is None or not parts.netloc:
        return url
    if "@" not in parts.netloc and not parts.query and not parts.fragment:
        return url
    netloc = parts.netloc
    if "@" in netloc:
        netloc = f"{MASK}@{netloc.rpartition('@')[2]}"
    query = "&".join(
        f"{item.partition('=')[0]}={MASK}" if "=" in item else MASK
        for item in parts.query.split("&")
        if item
    )
    fragment = MASK if parts.fragment else ""
    return urlunsplit((parts.scheme, netloc, parts.path, query, fragment))


def mask_urls_in(text: str) -> str:
    """Every absolute URL in ``text`` masked by :func:`mask_url` (the rest unchanged)."""

    def mask(match: re.Match[str]) -> str:
        found = match.group(0)
        url = found.rstrip(_TRAILING)
        return mask_url(url) + found[len(url) :]

    return _URL_IN_TEXT.sub(mask, text) if "://" in text else text
