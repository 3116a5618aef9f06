"""The passthrough video's rate controller (pure): what bitrate the network takes now.

aiortc reads REMB only for the encoders it runs itself, and Janus (the SFU under ALO)
uses REMB as a room cap, not as an estimate: a device that passes encoded H.264
through must estimate for itself. The inputs are what every receiver sends anyway:
RTCP receiver reports (fraction lost, interarrival jitter, round-trip time from
LSR/DLSR) and, where present, REMB as a ceiling. The output is a target bitrate in
``[min_bitrate, max_bitrate]`` for the camera's encoder.

The rules start from GCC's loss-based controller (draft-ietf-rmcat-gcc section 6):
under 2 % loss grow about 8 % per second, over 10 % cut by ``1 - 0.5 x loss``, in
between hold. Two changes make it fit a door camera:

- Queueing shows before loss: when the round-trip time climbs well above its floor
  (the lowest of the last 30 s), or the jitter above its own, the link is queueing;
  the target drops to 85 % of what reached the receiver (GCC's delay-based decrease;
  the receiver's extended sequence numbers say how many packets arrived). A round trip
  that rose without loss and stays up through two cuts is a longer path, not a queue:
  it becomes the new floor.
- Random loss is not congestion: Wi-Fi loses packets at any rate, and cutting for it
  only starves the picture (NACK repairs most of it). Loss between 10 % and 25 % cuts
  only when the path is queueing too; over 25 % it cuts in any case. A loss cut also
  goes no higher than 85 % of what arrived: from 2 Mbit/s into a 500 kbit/s link,
  one cut instead of five halvings.

Recovery: after a cut the target creeps up at 8 %/s towards what the link carried when
it broke; once the encoder sends 15 % more than that without trouble for 3 s, the link
has evidently grown and the target grows at 50 %/s back to the configured bitrate. Past
where it broke the link is most often whole again (the interference passed, the other
download ended): from 500 kbit/s to 2 Mbit/s takes 3.5 s at 50 %/s, 6 s at 25 %/s, and a
link that grew only a little costs one more cut, to just below what it carried.

REMB is a ceiling in the two ways receivers mean it. An SFU's cap (Janus sends its
room bitrate, the very same figure every time) caps the target once it has repeated
for 5 s. A receiver's own estimate (aiortc's receiver runs GCC's delay-based detector)
moves: when it falls, the receiver saw congestion, and the target is cut to it; while
it climbs it only follows what it gets (a few percent a second, never more than 1.5x),
so it is not a limit: holding the target under it would take half a minute from
300 kbit/s back to 2 Mbit/s.

Nothing here sleeps or reads a clock: every input carries its arrival time.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from enum import Enum

#: GCC's loss thresholds: grow below, cut above (draft-ietf-rmcat-gcc section 6).
GROW_BELOW_LOSS = 0.02
CUT_ABOVE_LOSS = 0.10
#: Loss this high is congestion whatever the delay says.
HEAVY_LOSS = 0.25
#: Growth per second near the rate where the link last broke, and well past it.
SLOW_GROWTH = 0.08
FAST_GROWTH = 0.5
#: Fast growth once what is sent is this far past where the link last broke, this long
#: clean (an encoder sending less than its target, a still scene, keeps growing slowly).
FAST_GROWTH_MARGIN = 1.15
FAST_GROWTH_AFTER = 3.0
#: What is sent is smoothed over reports with this weight for the newest (IDRs are bursts).
SENT_SMOOTHING = 0.5
#: Delay-based decrease: this share of what was sent when the path queues.
QUEUEING_DECREASE = 0.85
#: At most one cut per this long (plus the round-trip time): a report may still
#: describe the time before the previous cut.
CUT_HOLDOFF = 1.0
#: The round-trip and jitter floors are the lowest of this window.
FLOOR_WINDOW = 30.0
#: Queueing: the round-trip time above its floor by more than the larger of these
#: (plus four times the jitter floor, so a path that is merely jittery is not queueing).
QUEUEING_RTT_MIN = 0.050
QUEUEING_RTT_SHARE = 0.25
#: A longer path, not a queue: the round trip still this share of what it was when the
#: first queueing cut came, while the rate is at most this share of what it was then.
LONGER_PATH_RTT_SHARE = 0.75
LONGER_PATH_RATE_SHARE = 0.75
#: Queueing: the jitter above twice its floor plus this.
QUEUEING_JITTER = 0.030
#: A REMB older than this no longer caps anything.
REMB_LIFETIME = 5.0
#: A REMB under this share of the previous one fell: a cut to its figure.
REMB_FALL = 0.98
#: A REMB repeating the very same figure this long is an SFU's cap: a ceiling.
REMB_CAP_AFTER = 5.0
#: A target less than this far above a capping REMB is clamped without counting a cut.
REMB_CLAMP_QUIETLY = 1.1
#: Congested (keyframes rationed, see :meth:`RateController.congested`) this long after a cut.
CONGESTION_MEMORY = 5.0
#: Reports further apart than this count as this far apart (a stall is not growth).
MAX_REPORT_GAP = 2.0


@dataclass(frozen=True)
class ReceiverReport:
    """One RTCP receiver report block about the video stream, as the controller needs it."""

    #: Monotonic seconds when it arrived.
    at: float
    #: Share of packets lost since the previous report, 0-1 (RFC 3550 fraction lost).
    fraction_lost: float
    #: Interarrival jitter, seconds.
    jitter: float
    #: Seconds, from LSR/DLSR; None when the report refers to no sender report yet.
    round_trip_time: float | None
    #: What reached the receiver since its previous report, bit/s of payload (from the
    #: sequence numbers it reports); None when unknown (the first report).
    received_bitrate: float | None = None


class Change(Enum):
    """What one input did to the target."""

    NONE = "none"
    CUT = "cut"
    GREW = "grew"
    RESTORED = "restored"  # back at the configured bitrate after a cut


@dataclass(frozen=True)
class Decision:
    """The target after one input, and why it moved."""

    change: Change
    target: int
    reason: str = ""


@dataclass
class _DelayStep:
    """A round-trip time that rose without loss, and what the cuts since did to it.

    A queue the device fills drains once it sends less, or overflows (loss). A path
    that simply got longer (a hop to a distant relay, 200 ms of radio) keeps its round
    trip whatever is sent, and loses nothing: after two cuts that changed neither, the
    new round trip is the new floor and the bitrate may grow again.
    """

    rtt: float
    rate: float
    last: float
    cuts: int = 0
    lossy: bool = False

    def longer_path(self, rtt: float, rate: float) -> bool:
        return (
            self.cuts >= 2
            and not self.lossy
            and rtt >= LONGER_PATH_RTT_SHARE * self.rtt
            and rate <= LONGER_PATH_RATE_SHARE * self.rate
        )


class _WindowMin:
    """The minimum of the values seen in the last ``window`` seconds."""

    def __init__(self, window: float) -> None:
        self._window = window
        self._values: deque[tuple[float, float]] = deque()

    def add(self, at: float, value: float) -> None:
        # A monotonic deque: a new value retires every older one that is not smaller.
        while self._values and self._values[-1][1] >= value:
            self._values.pop()
        self._values.append((at, value))
        while self._values[0][0] < at - self._window:
            self._values.popleft()

    @property
    def value(self) -> float | None:
        return self._values[0][1] if self._values else None

    def clear(self) -> None:
        self._values.clear()


class RateController:
    """Turns receiver reports and REMB into a target bitrate (see the module docstring).

    It starts at ``max_bitrate``: a door camera mostly sits on a good link, and the
    first report shows within a second if it does not.
    """

    def __init__(self, max_bitrate: int, min_bitrate: int) -> None:
        if not 0 < min_bitrate <= max_bitrate:
            raise ValueError(
                f"need 0 < min_bitrate <= max_bitrate, got {min_bitrate}, {max_bitrate}"
            )
        self.max_bitrate = max_bitrate
        self.min_bitrate = min_bitrate
        self._rate = float(max_bitrate)
        self._rtt_floor = _WindowMin(FLOOR_WINDOW)
        self._jitter_floor = _WindowMin(FLOOR_WINDOW)
        self._last_report_at: float | None = None
        self._last_cut_at: float | None = None
        #: The rate at which the link last broke (None: it never did, or it grew past it).
        self._broke_at: float | None = None
        self._clean_since: float | None = None
        self._remb: tuple[float, float] | None = None  # (at, bit/s)
        self._remb_run: tuple[float, float] | None = None  # since when the same figure
        self._sent: float | None = None  # what the encoder produced, smoothed
        #: The most that reached the receiver in a congested report of this episode:
        #: while the bottleneck is busy, what arrives is what it carries.
        self._episode_through: float | None = None
        self._episode_last: float | None = None
        #: The SFU cap (a REMB figure repeated for seconds) that holds the target now.
        self._remb_cap: float | None = None
        #: The latest inputs, for /status.
        self.last_report: ReceiverReport | None = None
        self._delay_step: _DelayStep | None = None
        self.cuts = 0
        self.restores = 0
        #: Times the round-trip time rose and stayed without loss: a longer path, re-measured.
        self.new_baselines = 0

    # --- what it says ------------------------------------------------------------------

    @property
    def target(self) -> int:
        """The bitrate the encoder should produce now, bit/s."""
        return round(self._rate)

    @property
    def remb(self) -> int | None:
        """The latest REMB, bit/s (None before the first)."""
        return None if self._remb is None else round(self._remb[1])

    def congested(self, now: float) -> bool:
        """True within a few seconds of a cut, and while the target is under half the maximum.

        Keyframes are rationed then: a 720p IDR is over a second of a 500 kbit/s link.
        """
        recent = self._last_cut_at is not None and now - self._last_cut_at < CONGESTION_MEMORY
        return recent or self._rate < self.max_bitrate / 2

    # --- inputs ------------------------------------------------------------------------

    def new_path(self) -> None:
        """A new connection: its round-trip time and jitter are another path's.

        The target is kept: a reconnect over the same network meets the same limit.
        """
        self._rtt_floor.clear()
        self._jitter_floor.clear()
        self._last_report_at = None
        self._remb = None
        self._remb_run = None
        self._remb_cap = None
        self._sent = None

    def on_remb(self, at: float, bitrate: float) -> Decision:
        """A REMB for the video stream arrived (see the module docstring on REMB)."""
        previous, self._remb = self._remb, (at, float(bitrate))
        if previous is not None and bitrate < REMB_FALL * previous[1]:
            # The receiver's own detector saw congestion: that is a cut, to its figure.
            self._remb_run = (at, float(bitrate))
            self._remb_cap = None
            reason = f"receiver estimate (REMB) fell to {bitrate / 1000:.0f} kbit/s"
            return self._lower(at, bitrate, reason) or Decision(Change.NONE, self.target)
        run = self._remb_run
        if run is None or bitrate != run[1]:
            self._remb_run = (at, float(bitrate))  # a new value: an estimate at work
            self._remb_cap = None
        elif at - run[0] >= REMB_CAP_AFTER:
            self._remb_cap = float(bitrate)  # the same figure for seconds: an SFU's cap
        return self._apply_ceiling(at)

    def on_report(self, report: ReceiverReport, sent_bitrate: float | None = None) -> Decision:
        """A receiver report about the video stream arrived.

        ``sent_bitrate``: what the encoder produced over about the same interval. When
        the link is congested, what the receiver got is its throughput: a cut goes
        straight below it instead of halving its way down, and remembers it.
        """
        self.last_report = report
        at = report.at
        dt = 0.0 if self._last_report_at is None else at - self._last_report_at
        dt = min(max(dt, 0.0), MAX_REPORT_GAP)
        self._last_report_at = at
        if report.round_trip_time is not None:
            self._rtt_floor.add(at, report.round_trip_time)
        self._jitter_floor.add(at, report.jitter)
        if sent_bitrate is not None:
            previous = sent_bitrate if self._sent is None else self._sent
            self._sent = SENT_SMOOTHING * sent_bitrate + (1 - SENT_SMOOTHING) * previous
        loss = report.fraction_lost
        queueing = self._queueing(report)
        if queueing and self._longer_path(report):
            self._rtt_floor.clear()
            self._jitter_floor.clear()
            self._rtt_floor.add(at, report.round_trip_time or 0.0)
            self._jitter_floor.add(at, report.jitter)
            self._broke_at = None  # no link broke: the path got longer
            self.new_baselines += 1
            queueing = False
        through = self._note_congestion(report, queueing)
        if loss > CUT_ABOVE_LOSS and (queueing or loss > HEAVY_LOSS):
            rate = self._rate * (1 - 0.5 * loss)
            if through is not None:
                rate = min(rate, QUEUEING_DECREASE * through)
            return self._cut(at, rate, _loss_reason(loss, report), through)
        if queueing:
            basis = self._rate if through is None else min(self._rate, through)
            reason = self._queueing_reason(report)
            decision = self._cut(at, basis * QUEUEING_DECREASE, reason, through)
            if decision.change is Change.CUT and self._delay_step is not None:
                self._delay_step.cuts += 1
            return decision
        if loss >= GROW_BELOW_LOSS:
            self._clean_since = None  # hold
            return self._apply_ceiling(at)
        return self._grow(at, dt)

    # --- rules -------------------------------------------------------------------------

    def _queueing(self, report: ReceiverReport) -> bool:
        rtt_floor, jitter_floor = self._rtt_floor.value, self._jitter_floor.value or 0.0
        if report.round_trip_time is not None and rtt_floor is not None:
            allowed = max(QUEUEING_RTT_MIN, QUEUEING_RTT_SHARE * rtt_floor) + 4 * jitter_floor
            if report.round_trip_time - rtt_floor > allowed:
                return True
        return report.jitter > 2 * jitter_floor + QUEUEING_JITTER

    def _note_congestion(self, report: ReceiverReport, queueing: bool) -> float | None:
        """The link's throughput as this congestion episode has shown it so far.

        The first report of an episode may span the time before it (too high: growth
        then stays slow, the safe side); a later one may see the queue drained (too
        low: that would let growth run away). The most any congested report of the
        episode saw is the measure.
        """
        received = report.received_bitrate
        if not (queueing or report.fraction_lost > CUT_ABOVE_LOSS) or received is None:
            return None
        last = self._episode_last
        same = last is not None and report.at - last < CONGESTION_MEMORY
        through = self._episode_through
        self._episode_through = max(received, through) if same and through is not None else received
        self._episode_last = report.at
        return self._episode_through

    def _longer_path(self, report: ReceiverReport) -> bool:
        """Whether a queueing signal is a longer path rather than a queue (see _DelayStep)."""
        rtt = report.round_trip_time
        if rtt is None:
            return False
        step = self._delay_step
        if step is None or report.at - step.last > CONGESTION_MEMORY:
            step = self._delay_step = _DelayStep(rtt, self._rate, report.at)
        step.last = report.at
        step.lossy = step.lossy or report.fraction_lost >= GROW_BELOW_LOSS
        if step.longer_path(rtt, self._rate):
            self._delay_step = None
            return True
        return False

    def _queueing_reason(self, report: ReceiverReport) -> str:
        rtt, floor = report.round_trip_time, self._rtt_floor.value
        if rtt is not None and floor is not None:
            return f"queueing: RTT {rtt * 1000:.0f} ms (floor {floor * 1000:.0f} ms)"
        return f"queueing: jitter {report.jitter * 1000:.0f} ms"

    def _cut(self, at: float, rate: float, reason: str, through: float | None) -> Decision:
        """Loss or queueing: lower to ``rate``, unless the last cut is too recent to judge.

        ``through``: what got through meanwhile; the link broke there.
        """
        self._clean_since = None
        rtt = self.last_report.round_trip_time if self.last_report is not None else None
        if self._last_cut_at is not None and at - self._last_cut_at < CUT_HOLDOFF + (rtt or 0.0):
            return self._apply_ceiling(at)  # the report may predate the last cut's effect
        return self._lower(at, rate, reason, through) or self._apply_ceiling(at)

    def _lower(
        self, at: float, rate: float, reason: str, broke_at: float | None = None
    ) -> Decision | None:
        before = self._rate
        self._rate = max(float(self.min_bitrate), min(rate, self._rate))
        if self._rate >= before:
            return None
        self._broke_at = before if broke_at is None else min(before, broke_at)
        self._last_cut_at = at
        self.cuts += 1
        return Decision(Change.CUT, self.target, reason)

    def _grow(self, at: float, dt: float) -> Decision:
        if self._clean_since is None:
            self._clean_since = at
        broke_at, clean_for = self._broke_at, at - self._clean_since
        # Compared in what is sent: an encoder may produce less than its target.
        sent = self._rate if self._sent is None else self._sent
        fast = broke_at is None or (
            sent > FAST_GROWTH_MARGIN * broke_at and clean_for >= FAST_GROWTH_AFTER
        )
        if fast:
            self._broke_at = None  # the link grew past where it broke: that is history
        before = self._rate
        growth = FAST_GROWTH if fast else SLOW_GROWTH
        self._rate = min(float(self.max_bitrate), self._rate * (1 + growth) ** dt)
        ceiling = self._apply_ceiling(at)
        if ceiling.change is Change.CUT:
            return ceiling
        if self._rate >= self.max_bitrate and before < self.max_bitrate:
            self.restores += 1
            return Decision(Change.RESTORED, self.target, "no loss, no queueing")
        if self._rate > before:
            return Decision(Change.GREW, self.target)
        return Decision(Change.NONE, self.target)

    def _apply_ceiling(self, at: float) -> Decision:
        remb = self._remb
        if remb is None or self._remb_cap is None or at - remb[0] > REMB_LIFETIME:
            return Decision(Change.NONE, self.target)
        if self._rate <= self._remb_cap:
            return Decision(Change.NONE, self.target)
        if self._rate <= REMB_CLAMP_QUIETLY * self._remb_cap:
            self._rate = max(float(self.min_bitrate), self._remb_cap)  # a growth step too far
            return Decision(Change.NONE, self.target)
        reason = f"receiver estimate (REMB) {self._remb_cap / 1000:.0f} kbit/s"
        return self._lower(at, self._remb_cap, reason) or Decision(Change.NONE, self.target)

    def floors(self) -> tuple[float | None, float | None]:
        """The round-trip time and jitter floors (seconds) the queueing test compares with."""
        return self._rtt_floor.value, self._jitter_floor.value


def _loss_reason(loss: float, report: ReceiverReport) -> str:
    rtt = report.round_trip_time
    shown = "" if rtt is None else f", RTT {rtt * 1000:.0f} ms"
    return f"{loss * 100:.0f} % loss{shown}"
