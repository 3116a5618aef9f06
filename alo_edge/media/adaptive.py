"""A passthrough source's rate control: the controller, its clock, and the encoder it drives.

:class:`~alo_edge.media.rate_control.RateController` decides; :class:`AdaptiveBitrate`
feeds it what the far end reports (through :mod:`alo_edge.media.feedback`) and what
the encoder produced (measured as the track hands pictures to aiortc), applies its
target to the encoder, rations forced keyframes while the link is congested, says so
in the journal when it cuts or restores the bitrate, and keeps the figures the status
endpoint shows.

A source that cannot re-encode (the ``file`` source replays what was recorded) gets
one without an encoder to drive: it still shows loss and round-trip time, and
``adapts`` is false.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable
from typing import Any, Protocol, runtime_checkable

from alo_edge.media.passthrough import (
    CONGESTED_KEYFRAME_INTERVAL,
    KEYFRAME_MIN_INTERVAL,
    KeyframeRequests,
)
from alo_edge.media.rate_control import Change, Decision, RateController, ReceiverReport

logger = logging.getLogger(__name__)

#: What the encoder produced is measured over this window.
SENT_WINDOW = 1.0
#: While congested, a further cut is logged only when the target fell below this share
#: of the last logged one (a link that keeps shrinking shows; a sawtooth does not flood).
LOG_AGAIN_BELOW = 0.5
#: Reports closer together than this say too little about what was sent between them.
MIN_REPORT_INTERVAL = 0.2
#: Re-apply the target at least this often: an encoder that was reopened, or a write
#: that raced a reconfiguration, converges without a change of target.
REAPPLY_EVERY = 5.0


@runtime_checkable
class RateControlled(Protocol):
    """A video source whose pictures have a rate control (the passthrough sources)."""

    @property
    def rate_control(self) -> AdaptiveBitrate:
        """Its rate control (``adapts`` is false where the pictures cannot be re-encoded)."""
        ...


class AdaptiveBitrate:
    """Drives ``apply(bit/s)`` (the encoder's bitrate control) from the far end's reports.

    Call from the event loop only. ``apply`` None: nothing can be re-encoded; the
    figures are still kept. ``keyframes``: the source's forced-keyframe rationing.
    """

    def __init__(
        self,
        max_bitrate: int,
        min_bitrate: int,
        *,
        apply: Callable[[int], None] | None,
        keyframes: KeyframeRequests | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.controller = RateController(max_bitrate, min_bitrate)
        self._apply = apply
        self._keyframes = keyframes
        self._clock = clock
        self._sent: deque[tuple[float, int]] = deque()
        self._sent_bytes = 0
        self._sent_total = 0
        #: (time, bytes sent so far, packets received so far) at the last receiver
        #: report: rates over a report's own interval are what its loss belongs to.
        self._report_mark: tuple[float, int, int | None] | None = None
        self._applied: int | None = None
        self._applied_at = 0.0
        self._logged_cut: int | None = None

    @property
    def adapts(self) -> bool:
        """True when the target reaches an encoder."""
        return self._apply is not None

    @property
    def target(self) -> int:
        """The controller's target, bit/s."""
        return self.controller.target

    # --- inputs ------------------------------------------------------------------------

    def new_path(self) -> None:
        """A new connection (a fresh track) starts."""
        self.controller.new_path()
        self._report_mark = None

    def sent(self, size: int) -> None:
        """An encoded picture of ``size`` bytes went to the sender."""
        now = self._clock()
        self._sent.append((now, size))
        self._sent_bytes += size
        self._sent_total += size
        self._expire(now)

    def sent_bitrate(self) -> float | None:
        """What the encoder produced over the last second, bit/s (None before a second)."""
        now = self._clock()
        self._expire(now)
        if not self._sent or now - self._sent[0][0] < SENT_WINDOW / 2:
            return None
        return self._sent_bytes * 8 / SENT_WINDOW

    def on_receiver_report(
        self,
        fraction_lost: float,
        jitter: float,
        rtt: float | None,
        *,
        received_packets: int | None = None,
        packet_size: float | None = None,
    ) -> None:
        """The far end's receiver report about the video stream arrived.

        ``received_packets``: how many it has received so far (any origin: only the
        change between reports counts); ``packet_size``: the mean payload per packet.
        """
        now = self._clock()
        mark = self._report_mark
        self._report_mark = (now, self._sent_total, received_packets)
        sent = received = None
        if mark is not None and now - mark[0] >= MIN_REPORT_INTERVAL:
            interval = now - mark[0]
            sent = (self._sent_total - mark[1]) * 8 / interval
            if received_packets is not None and mark[2] is not None and packet_size:
                arrived = max(received_packets - mark[2], 0)
                received = arrived * packet_size * 8 / interval
        report = ReceiverReport(now, fraction_lost, jitter, rtt, received)
        self._follow(self.controller.on_report(report, sent))

    def on_remb(self, bitrate: float) -> None:
        """The far end's REMB (its estimate, or an SFU's cap) arrived."""
        self._follow(self.controller.on_remb(self._clock(), bitrate))

    # --- what it shows -----------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        """The ``/status`` figures (ALO's camelCase), bit/s and seconds."""
        report = self.controller.last_report
        sent = self.sent_bitrate()
        return {
            "adapts": self.adapts,
            "targetBitrate": self.target,
            "maxBitrate": self.controller.max_bitrate,
            "minBitrate": self.controller.min_bitrate,
            "sentBitrate": None if sent is None else round(sent),
            "lossFraction": None if report is None else round(report.fraction_lost, 3),
            "roundTripTime": None if report is None else report.round_trip_time,
            "jitter": None if report is None else round(report.jitter, 4),
            "remoteEstimate": self.controller.remb,
            "congested": self.controller.congested(self._clock()),
            "cuts": self.controller.cuts,
            "restores": self.controller.restores,
        }

    # --- internals ---------------------------------------------------------------------

    def _expire(self, now: float) -> None:
        while self._sent and self._sent[0][0] <= now - SENT_WINDOW:
            self._sent_bytes -= self._sent.popleft()[1]

    def _follow(self, decision: Decision) -> None:
        now = self._clock()
        if self._keyframes is not None:
            congested = self.controller.congested(now)
            interval = CONGESTED_KEYFRAME_INTERVAL if congested else KEYFRAME_MIN_INTERVAL
            self._keyframes.min_interval = interval
        self._log(decision)
        target = decision.target
        if self._apply is None:
            return
        if target != self._applied or now - self._applied_at >= REAPPLY_EVERY:
            self._applied, self._applied_at = target, now
            self._apply(target)

    def _log(self, decision: Decision) -> None:
        kbit = decision.target / 1000
        fields = {"ALO_TARGET_BITRATE": decision.target, "ALO_RATE_CHANGE": decision.change.value}
        if decision.change is Change.CUT:
            last = self._logged_cut
            if last is None or decision.target < LOG_AGAIN_BELOW * last:
                self._logged_cut = decision.target
                action = "cut" if self.adapts else "would be cut (this source cannot re-encode)"
                logger.warning(
                    "video bitrate %s to %.0f kbit/s: %s",
                    action,
                    kbit,
                    decision.reason,
                    extra=fields,
                )
            else:
                logger.debug("video bitrate cut to %.0f kbit/s: %s", kbit, decision.reason)
        elif decision.change is Change.RESTORED:
            self._logged_cut = None
            logger.info(
                "video bitrate restored to %.0f kbit/s (%s)", kbit, decision.reason, extra=fields
            )
