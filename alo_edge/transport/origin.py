"""The origin policy: a credential goes only to the origin it was issued for.

Servers name URLs (an access answer's ``url``, a WHIP ``Location``, a ``Link``, a
redirect), and a device that follows them with its bearer hands its token to
whoever answered. The rules, enforced here and nowhere else:

- A bearer is *issued for* one origin (:mod:`alo_edge.urls`): the device token for
  the configured access endpoint (or WHIP/Janus URL when there is no access step),
  the access answer's media token for its ``url``. A request carrying it anywhere
  else is refused before it is sent.
- A redirect to another origin, or from TLS to plain text, is refused before
  aiohttp follows it. (aiohttp drops the ``Authorization`` header on a cross-host
  redirect, but the device would then take its ``Location`` from the new host and
  DELETE there with the token.)
- Plain ``http://``/``ws://`` only to loopback, unless ``network.allow_insecure``.
- A ``Location`` or ``Link`` target on another origin is not used
  (:func:`target_allowed`): never sent a credential, never contacted.

All HTTP and WebSocket traffic of a session goes through :func:`device_session`, an
``aiohttp.ClientSession`` whose one client middleware applies the rules to every
request and every redirect hop. A refusal is logged (a warning naming both sides,
URLs masked) and raised as :class:`OriginRefused`, which
:func:`~alo_edge.transport.http.map_transport_errors` turns into a retryable
SignallingError: the device keeps trying, and nothing reached the other host.
"""

from __future__ import annotations

import logging
from collections import OrderedDict

import aiohttp
from yarl import URL

from alo_edge.urls import has_userinfo, is_downgrade, mask_url, origin_of, plain_url_problem

logger = logging.getLogger(__name__)

#: Tokens remembered with the origin they were issued for (renewed tokens push out old ones).
MAX_ISSUED = 64
MAX_ORIGINS_PER_TOKEN = 8
_REDIRECTS = frozenset({301, 302, 303, 307, 308})


class OriginRefused(aiohttp.ClientError):
    """A request or redirect the origin policy refused; nothing was sent to the target.

    A ClientError, so aiohttp passes it through its request loop untouched.
    """


class OriginPolicy:
    """Which origins each bearer was issued for, and whether plain text is allowed."""

    def __init__(self, *, allow_insecure: bool = False) -> None:
        self.allow_insecure = allow_insecure
        self._issued: OrderedDict[str, set[str]] = OrderedDict()

    def check_url(self, url: str, *, what: str) -> None:
        """Raise OriginRefused when ``url`` may not be used at all (scheme, plain text)."""
        problem = plain_url_problem(url, allow_insecure=self.allow_insecure)
        if problem:
            raise _refused(f"{what}: {problem}")

    def issue(self, token: str, url: str, *, what: str) -> None:
        """Record that ``token`` may go to ``url``'s origin (its issuer said so).

        The issuers are the config (the device token, for the configured access or
        media URL) and the access endpoint (a media token, for the ``url`` it names: an
        access service may send one token to one server today and another tomorrow).
        Whether an issuer may name that origin at all is checked before this call.
        """
        origin = origin_of(url)
        if origin is None:
            raise _refused(f"{what}: {mask_url(url)!r} has no origin to send a token to")
        origins = self._issued.setdefault(token, set())
        origins.add(origin)
        while len(origins) > MAX_ORIGINS_PER_TOKEN:
            origins.pop()
        self._issued.move_to_end(token)
        while len(self._issued) > MAX_ISSUED:
            self._issued.popitem(last=False)

    def may_carry(self, token: str, url: str) -> bool:
        """True when ``token`` was issued for ``url``'s origin."""
        origin = origin_of(url)
        return origin is not None and origin in self._issued.get(token, set())

    async def middleware(
        self, request: aiohttp.ClientRequest, handler: aiohttp.ClientHandlerType
    ) -> aiohttp.ClientResponse:
        """aiohttp client middleware: every request and every redirect hop passes here."""
        url = str(request.url)
        self.check_url(url, what=f"{request.method} {mask_url(url)}")
        authorization = request.headers.get("Authorization", "")
        if authorization.startswith("Bearer "):
            token = authorization.removeprefix("Bearer ")
            if not self.may_carry(token, url):
                issued = ", ".join(sorted(self._issued.get(token, set()))) or "no origin"
                raise _refused(
                    f"{request.method} {mask_url(url)}: the bearer was issued for {issued}, "
                    f"not {origin_of(url)}; not sent"
                )
        response = await handler(request)
        location = response.headers.get("Location")
        if response.status in _REDIRECTS and location:
            try:
                target = str(response.url.join(URL(location)))
            except ValueError:
                target = location
            if not _same_origin_hop(url, target):
                response.close()
                raise _refused(
                    f"{request.method} {mask_url(url)} was redirected to {mask_url(target)}: "
                    "another origin (or plain text), not followed"
                )
        return response


def _same_origin_hop(source: str, target: str) -> bool:
    origin = origin_of(target)
    return (
        origin is not None
        and origin == origin_of(source)
        and not is_downgrade(source, target)
        and not has_userinfo(target)  # aiohttp would send them instead of (or with) the bearer
    )


def _refused(message: str) -> OriginRefused:
    logger.warning("origin policy refused: %s", message)
    return OriginRefused(message)


def target_allowed(target: str, issued_for: str, *, what: str) -> bool:
    """True when a server-named ``target`` (Location, Link) is on ``issued_for``'s origin.

    Otherwise a warning names both (masked): the target is not used, so it is never
    contacted and never sent the credential.
    """
    if _same_origin_hop(issued_for, target):
        return True
    logger.warning(
        "%s %s is not on %s, the origin the token was issued for (or carries credentials): "
        "not used",
        what,
        mask_url(target),
        origin_of(issued_for),
    )
    return False


def device_session(policy: OriginPolicy) -> aiohttp.ClientSession:
    """An aiohttp session whose every request and redirect the ``policy`` checks."""
    return aiohttp.ClientSession(middlewares=(policy.middleware,))
