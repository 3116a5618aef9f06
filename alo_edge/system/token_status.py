"""The bearer's expiry and renewal in ``/status`` and ``/metrics``, never the bearer.

A fleet owner alerts on ``alo_edge_token_expiry_timestamp_seconds - time() < 3600`` (a
token file nobody replaces, a token endpoint that keeps failing) long before the device
goes dark. ``/status`` carries the same under ``token``::

    {"source": "client_credentials", "expiresAt": "...", "obtainedAt": "...",
     "renewAt": "...", "renewals": 3, "renewalFailures": 0, "lastRenewalError": null,
     "lastRenewalErrorAt": null}

Metrics::

    alo_edge_token_expiry_timestamp_seconds        gauge (absent while unknown)
    alo_edge_token_renewals_total                  counter
    alo_edge_token_renewal_failures                gauge (consecutive failures now)
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from alo_edge.session.credentials import Credentials


class TokenStatus:
    """A :class:`~alo_edge.system.status.StatusSection` reading one session's credentials."""

    def __init__(self, credentials: Credentials) -> None:
        self._credentials = credentials

    @property
    def status_key(self) -> str:
        """``/status`` carries it under ``token``."""
        return "token"

    def status(self) -> dict[str, Any]:
        """Where the token comes from, when it expires, how renewal goes."""
        state = self._credentials.state()
        return {
            "source": state.source,
            "expiresAt": _iso(state.expires_at),
            "obtainedAt": _iso(state.obtained_at),
            "renewAt": _iso(state.renew_at),
            "renewals": state.renewals,
            "renewalFailures": state.failures,
            "lastRenewalError": state.last_error,
            "lastRenewalErrorAt": _iso(state.last_error_at),
        }

    def metrics(self) -> Iterable[Metric]:
        """The expiry as a timestamp, renewals so far, consecutive failures now."""
        state = self._credentials.state()
        if state.expires_at is not None:
            yield GaugeMetricFamily(
                "alo_edge_token_expiry_timestamp_seconds",
                "When the bearer the device holds expires (epoch seconds)",
                value=state.expires_at,
            )
        yield CounterMetricFamily(
            "alo_edge_token_renewals",
            "Tokens obtained from the token endpoint (alo.token_url)",
            value=state.renewals,
        )
        yield GaugeMetricFamily(
            "alo_edge_token_renewal_failures",
            "Consecutive failed requests to the token endpoint (0 after a success)",
            value=state.failures,
        )


def _iso(epoch: float | None) -> str | None:
    if epoch is None:
        return None
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="seconds")
