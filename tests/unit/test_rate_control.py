"""The passthrough video's rate controller, fed receiver reports on a fake clock.

Each test plays the reports a receiver would send once a second through a link the
test describes, and asserts what a viewer would notice: the bitrate the camera is
asked for.
"""

from __future__ import annotations

import random

import pytest

from alo_edge.media.rate_control import (
    Change,
    RateController,
    ReceiverReport,
)

MAX = 2_000_000
MIN = 150_000


class Link:
    """A bottleneck of ``capacity`` bit/s in front of a receiver reporting every second.

    Sending above capacity fills a queue (the round-trip time climbs) and then loses
    the excess; below it the queue drains. ``random_loss`` is loss at any rate.
    """

    def __init__(
        self,
        controller: RateController,
        capacity: float,
        *,
        base_rtt: float = 0.02,
        queue_seconds: float = 0.2,
        random_loss: float = 0.0,
        seed: int = 1,
    ) -> None:
        self.controller = controller
        self.capacity = capacity
        self.base_rtt = base_rtt
        self.queue_seconds = queue_seconds
        self.random_loss = random_loss
        self.rng = random.Random(seed)
        self.queue = 0.0  # seconds of data waiting
        self.now = 0.0
        self.targets: list[int] = []

    def second(self) -> None:
        """One second of sending at the current target, then the receiver's report."""
        self.now += 1.0
        sent = self.controller.target * 0.9  # an encoder lands a little under its target
        backlog = self.queue * self.capacity + sent
        received = min(backlog, self.capacity)
        left = backlog - received
        overflow = max(left - self.queue_seconds * self.capacity, 0.0)
        self.queue = (left - overflow) / self.capacity
        loss = overflow / sent if sent else 0.0
        if self.random_loss:
            loss += self.rng.uniform(0.5, 1.5) * self.random_loss * (1 - loss)
            received *= 1 - self.random_loss
        report = ReceiverReport(
            at=self.now,
            fraction_lost=min(loss, 1.0),
            jitter=0.002 + self.queue * 0.05,
            round_trip_time=self.base_rtt + self.queue,
            received_bitrate=received,
        )
        self.controller.on_report(report, sent)
        self.targets.append(self.controller.target)

    def run(self, seconds: int) -> None:
        for _ in range(seconds):
            self.second()


def clean(at: float, rtt: float = 0.02) -> ReceiverReport:
    return ReceiverReport(at, 0.0, 0.002, rtt, None)


def test_it_starts_at_the_configured_bitrate_and_stays_there_on_a_good_link() -> None:
    controller = RateController(MAX, MIN)
    link = Link(controller, capacity=10_000_000)
    link.run(30)

    assert set(link.targets) == {MAX}
    assert controller.cuts == 0


def test_a_500_kbit_link_is_found_within_seconds_and_the_target_stays_under_it() -> None:
    controller = RateController(MAX, MIN)
    link = Link(controller, capacity=380_000)  # 500 kbit/s less the audio
    link.run(30)

    first_below = next(i for i, t in enumerate(link.targets) if t * 0.9 <= 380_000)
    assert first_below <= 3, link.targets  # one or two cuts, not five halvings
    settled = link.targets[10:]
    assert max(settled) * 0.9 <= 380_000 * 1.3, settled  # hovers at the link, not far above
    assert min(settled) >= 150_000, settled


@pytest.mark.parametrize("capacity", [380_000, 250_000, 160_000])
def test_the_configured_bitrate_is_back_within_12_s_wherever_the_sawtooth_stood(
    capacity: int,
) -> None:
    # The lab's bar is 15 s from the limit lifting to video.bitrate; its reports and
    # polling take a few of them. The target saws under the limit, so when the limit
    # lifts it may stand anywhere between a cut and the next: every second is tried.
    for limited_for in range(20, 41):
        controller = RateController(MAX, MIN)
        link = Link(controller, capacity=capacity)
        link.run(limited_for)
        link.capacity = 100_000_000
        link.run(12)

        assert link.targets[-1] == MAX, (limited_for, link.targets[limited_for:])
        assert controller.restores == 1


def test_ten_percent_random_loss_does_not_starve_the_picture() -> None:
    # Wi-Fi loses packets at any rate; the round-trip time stays flat, so it is not congestion.
    controller = RateController(MAX, MIN)
    link = Link(controller, capacity=100_000_000, random_loss=0.10)
    link.run(60)

    assert min(link.targets) >= 0.8 * MAX, link.targets


def test_heavy_loss_cuts_even_without_queueing() -> None:
    controller = RateController(MAX, MIN)
    decision = controller.on_report(ReceiverReport(1.0, 0.40, 0.002, 0.02, None))

    assert decision.change is Change.CUT
    assert controller.target == round(MAX * (1 - 0.5 * 0.40))  # GCC's loss rule


def test_loss_between_two_and_ten_percent_holds_the_target() -> None:
    controller = RateController(MAX, MIN)
    controller.on_report(ReceiverReport(1.0, 0.40, 0.002, 0.02, None))
    held = controller.target
    for second in range(2, 12):
        controller.on_report(ReceiverReport(float(second), 0.05, 0.002, 0.02, None))

    assert controller.target == held


def test_under_two_percent_loss_grows_about_8_percent_a_second_after_a_cut() -> None:
    controller = RateController(MAX, MIN)
    controller.on_report(ReceiverReport(1.0, 0.5, 0.002, 0.02, 500_000))
    cut = controller.target
    controller.on_report(clean(2.0))
    controller.on_report(clean(3.0))

    assert controller.target == pytest.approx(cut * 1.08**2, rel=0.01)


def test_a_climbing_round_trip_time_cuts_before_any_loss() -> None:
    controller = RateController(MAX, MIN)
    for second in range(1, 6):
        controller.on_report(clean(float(second)))
    decision = controller.on_report(ReceiverReport(6.0, 0.0, 0.004, 0.150, 1_500_000))

    assert decision.change is Change.CUT
    assert "queueing" in decision.reason
    assert controller.target == round(0.85 * 1_500_000)


def test_a_long_but_jittery_path_is_not_mistaken_for_queueing() -> None:
    # 200 +- 50 ms each way: the round trip wanders 300-500 ms without any queue.
    controller = RateController(MAX, MIN)
    rng = random.Random(3)
    for second in range(1, 61):
        rtt = 0.4 + rng.uniform(-0.1, 0.1)
        controller.on_report(ReceiverReport(float(second), 0.0, 0.033, rtt, None))

    assert controller.cuts == 0
    assert controller.target == MAX


def test_two_bad_reports_in_a_row_cut_once() -> None:
    # The second report may still describe the time before the first cut took effect.
    controller = RateController(MAX, MIN)
    controller.on_report(ReceiverReport(1.0, 0.5, 0.002, 0.02, None))
    controller.on_report(ReceiverReport(1.5, 0.5, 0.002, 0.02, None))

    assert controller.cuts == 1


def test_the_target_never_goes_under_min_bitrate() -> None:
    controller = RateController(MAX, MIN)
    link = Link(controller, capacity=50_000)
    link.run(30)

    assert min(link.targets) == MIN


def test_a_falling_remb_caps_the_target_and_a_rising_one_lets_it_go() -> None:
    controller = RateController(MAX, MIN)
    controller.on_remb(1.0, 2_500_000)
    assert controller.target == MAX  # above the target: nothing to cap
    decision = controller.on_remb(2.0, 600_000)
    assert decision.change is Change.CUT
    assert controller.target == 600_000
    remb = 600_000.0
    for second in range(3, 9):  # the receiver probes up again, 5 % a second
        remb *= 1.05
        controller.on_remb(float(second), remb)
        controller.on_report(clean(second + 0.5))

    assert controller.target > remb  # a rising estimate is no limit


def test_an_sfu_cap_that_never_changes_stays_a_cap() -> None:
    # Janus sends the room's bitrate as REMB, the same value every time.
    controller = RateController(MAX, MIN)
    for second in range(1, 40):
        controller.on_remb(float(second), 512_000)
        controller.on_report(clean(float(second) + 0.5))

    assert controller.target == 512_000


def test_congestion_rations_keyframes_for_a_while_after_a_cut() -> None:
    controller = RateController(MAX, MIN)
    assert not controller.congested(0.0)
    controller.on_report(ReceiverReport(1.0, 0.3, 0.002, 0.02, 1_800_000))

    assert controller.congested(2.0)
    assert controller.target > MAX / 2
    assert not controller.congested(7.0)


def test_a_new_path_forgets_the_old_round_trip_floor() -> None:
    controller = RateController(MAX, MIN)
    for second in range(1, 5):
        controller.on_report(clean(float(second), rtt=0.010))
    controller.new_path()  # e.g. the next attempt relays through TURN: 120 ms
    for second in range(5, 10):
        controller.on_report(clean(float(second), rtt=0.120))

    assert controller.cuts == 0


def test_min_above_max_is_refused() -> None:
    with pytest.raises(ValueError, match="min_bitrate"):
        RateController(100_000, 200_000)


def test_a_path_that_gets_longer_is_measured_again_not_starved() -> None:
    # 200 +- 50 ms each way from one moment on (a relay, a radio hop): no queue, no loss.
    controller = RateController(MAX, MIN)
    for second in range(1, 11):
        controller.on_report(clean(float(second), rtt=0.02))
    rng = random.Random(5)
    targets = []
    for second in range(11, 41):
        rtt = 0.4 + rng.uniform(-0.08, 0.08)
        controller.on_report(ReceiverReport(float(second), 0.0, 0.03, rtt, 1_700_000))
        targets.append(controller.target)

    assert controller.new_baselines == 1
    assert controller.cuts <= 3
    assert min(targets) >= MAX * 0.5
    assert targets[-1] == MAX


def test_a_receiver_repeating_a_rising_estimate_does_not_hold_the_target_back() -> None:
    # aiortc's receiver sends its estimate several times a second, often unchanged.
    controller = RateController(MAX, MIN)
    controller.on_report(ReceiverReport(1.0, 0.5, 0.002, 0.02, 400_000))
    remb = 400_000.0
    now = 2.0
    for _ in range(15):
        remb *= 1.08  # the receiver's own AIMD ramp, 8 % a second
        for _ in range(4):
            controller.on_remb(now, remb)
            now += 0.25
        controller.on_report(clean(now))

    assert controller.target > 1.5 * remb
