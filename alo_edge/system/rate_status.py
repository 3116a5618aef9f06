"""The passthrough video's rate control in ``/status`` and ``/metrics``.

A :class:`~alo_edge.system.status.StatusSection` beside the session: for each
published source with a rate control (the camera's passthrough path, and the ``file``
source, which only observes), ``/status`` carries ``rateControl.<kind>`` with the
target and sent bitrate, the loss fraction, round-trip time and jitter from the far
end's last receiver report, its REMB, and how often the controller cut and restored.

Metrics (gauges unless named ``_total``)::

    alo_edge_target_bitrate_bits_per_second{kind}     the encoder's target
    alo_edge_encoded_bitrate_bits_per_second{kind}    what the encoder produced, last second
    alo_edge_packet_loss_ratio{kind}                  fraction lost, last receiver report
    alo_edge_report_round_trip_time_seconds{kind}     RTT of the last report (LSR/DLSR)
    alo_edge_jitter_seconds{kind}                     interarrival jitter, last report
    alo_edge_remote_estimate_bits_per_second{kind}    the last REMB
    alo_edge_bitrate_cuts_total{kind}, alo_edge_bitrate_restores_total{kind}
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from alo_edge.media.adaptive import AdaptiveBitrate, RateControlled
from alo_edge.session.view import SessionView


class RateControlStatus:
    """Reports the rate control of the session's passthrough sources."""

    def __init__(self) -> None:
        self._session: SessionView | None = None

    async def start(self, session: SessionView) -> None:
        self._session = session

    async def stop(self) -> None:
        self._session = None

    @property
    def status_key(self) -> str:
        """``/status`` carries the figures under ``rateControl``, by media kind."""
        return "rateControl"

    def _controls(self) -> Iterator[tuple[str, AdaptiveBitrate]]:
        session = self._session
        for source in session.media_sources if session is not None else ():
            if isinstance(source, RateControlled):
                yield source.kind, source.rate_control

    def status(self) -> dict[str, Any]:
        """``{kind: figures}`` (see :meth:`AdaptiveBitrate.status`)."""
        return {kind: control.status() for kind, control in self._controls()}

    def metrics(self) -> Iterable[Metric]:
        """The families listed in the module docstring."""
        families = {
            "target": GaugeMetricFamily(
                "alo_edge_target_bitrate_bits_per_second",
                "The bitrate the rate controller asks of the encoder",
                labels=["kind"],
            ),
            "sent": GaugeMetricFamily(
                "alo_edge_encoded_bitrate_bits_per_second",
                "What the encoder produced over the last second",
                labels=["kind"],
            ),
            "loss": GaugeMetricFamily(
                "alo_edge_packet_loss_ratio",
                "Fraction of packets lost, from the far end's last receiver report",
                labels=["kind"],
            ),
            "rtt": GaugeMetricFamily(
                "alo_edge_report_round_trip_time_seconds",
                "Round-trip time of the last receiver report (LSR/DLSR)",
                labels=["kind"],
            ),
            "jitter": GaugeMetricFamily(
                "alo_edge_jitter_seconds",
                "Interarrival jitter, from the far end's last receiver report",
                labels=["kind"],
            ),
            "remb": GaugeMetricFamily(
                "alo_edge_remote_estimate_bits_per_second",
                "The far end's last REMB (its estimate, or an SFU's cap)",
                labels=["kind"],
            ),
        }
        cuts = CounterMetricFamily(
            "alo_edge_bitrate_cuts", "Times the rate controller cut the bitrate", labels=["kind"]
        )
        restores = CounterMetricFamily(
            "alo_edge_bitrate_restores",
            "Times the bitrate came back to video.bitrate after a cut",
            labels=["kind"],
        )
        for kind, control in self._controls():
            figures = control.status()
            values = {
                "target": figures["targetBitrate"],
                "sent": figures["sentBitrate"],
                "loss": figures["lossFraction"],
                "rtt": figures["roundTripTime"],
                "jitter": figures["jitter"],
                "remb": figures["remoteEstimate"],
            }
            for name, value in values.items():
                if value is not None:
                    families[name].add_metric([kind], value)
            cuts.add_metric([kind], figures["cuts"])
            restores.add_metric([kind], figures["restores"])
        yield from families.values()
        yield from (cuts, restores)
