"""A bank of two-sided Bernoulli CUSUMs for a baseline rate, calibrated for a false-alarm
budget, fed bucket by bucket: the rate monitors' detector before the mixture
(`monitoring.detectors.mixture`), kept as the bench's reference. Also the budget in plain
terms and the baseline band, which the mixture shares. Pure Python (docs/DETECTION.md,
"The bank")."""

import math
from dataclasses import dataclass
from functools import lru_cache

from monitoring.detectors.chain import CusumDesign, arl, calibrate, expit, logit

P_MIN, P_MAX = 1e-4, 1 - 1e-4
# The bank's designs: (direction, odds ratio it is tuned for, share of the false-alarm budget).
# Not told the size of a shift, it runs one CUSUM per design and alarms on whichever crosses
# first. The smallest rise gets half the budget: a nat off a threshold saves 1/KL events, and
# the small shift has the smallest KL, so that is where the budget buys the most delay
# (docs/DETECTION.md, "The bank").
DESIGNS = (("up", 2.0, 3), ("up", 4.5, 1), ("down", 0.5, 1), ("down", 0.05, 1))


@dataclass(frozen=True)
class DetectorBank:
    p0: float
    false_alarms_per_event: float  # the target the thresholds were calibrated for (whole bank)
    designs: tuple[CusumDesign, ...]

    def to_json(self) -> dict:
        return {
            "p0": self.p0,
            "false_alarms_per_event": self.false_alarms_per_event,
            "designs": [
                {"direction": d.direction, "p0": d.p0, "p1": d.p1, "threshold": d.threshold}
                for d in self.designs
            ],
        }

    @classmethod
    def from_json(cls, data: dict) -> "DetectorBank":
        return cls(
            p0=data["p0"],
            false_alarms_per_event=data["false_alarms_per_event"],
            designs=tuple(CusumDesign(**d) for d in data["designs"]),
        )


def false_alarms_per_event(pages_per_month: float, events_per_day: float, monitors: int) -> float:
    """The per-event false-alarm rate of one monitor, from "at most `pages_per_month` false
    pages a month for this system": the system's events in a 30-day month, and the budget
    split equally across its monitors."""
    if pages_per_month <= 0 or events_per_day <= 0 or monitors < 1:
        raise ValueError("pages per month, events per day and monitors must be positive")
    return pages_per_month / (30 * events_per_day * monitors)


def shifts_possible(p0: float, false_alarms_per_event: float, table) -> tuple[float, list, float]:
    """(p0 clamped into the detectors' range, the (direction, odds, weight) shifts of `table`
    that p0 leaves possible, their total weight). A rate already at 1 cannot rise, nor one
    at 0 fall."""
    if not 0 <= p0 <= 1 or not 0 < false_alarms_per_event < 1:
        raise ValueError("p0 must be a probability and false_alarms_per_event in (0, 1)")
    chosen = [
        (direction, odds, weight)
        for direction, odds, weight in table
        if (direction == "up" and p0 < P_MAX) or (direction == "down" and p0 > P_MIN)
    ]
    return min(max(p0, P_MIN), P_MAX), chosen, sum(weight for _, _, weight in chosen)


@lru_cache(maxsize=1024)
def bank_for(p0: float, false_alarms_per_event: float) -> DetectorBank:
    """The bank of two-sided Bernoulli CUSUMs for baseline rate p0, each design's threshold
    calibrated on its exact Markov chain so that the bank raises at most
    `false_alarms_per_event` false alarms per event: each design's in-control ARL is at least
    1 / (its share of that budget), and the bank's rate is at most the sum of theirs."""
    clamped, chosen, total = shifts_possible(p0, false_alarms_per_event, DESIGNS)
    designs = tuple(
        calibrate(
            direction,
            clamped,
            expit(logit(clamped) + math.log(odds)),
            total / (share * false_alarms_per_event),
        )
        for direction, odds, share in chosen
    )
    return DetectorBank(p0=clamped, false_alarms_per_event=false_alarms_per_event, designs=designs)


def bank_start(bank: DetectorBank) -> list[dict]:
    return [{"s": 0.0, "zero_at": None} for _ in bank.designs]


def bank_update(
    bank: DetectorBank, state: list[dict], x: int, n: int, at: float
) -> tuple[list[dict], int | None]:
    """Feed one bucket (x successes in n events, observed at `at`). Returns the new state and
    the index of the first design at or over its threshold, or None.

    zero_at is the last time the statistic was 0: the change-point estimate of a CUSUM is
    the moment it last left zero.
    """
    new, fired = [], None
    for i, (design, old) in enumerate(zip(bank.designs, state, strict=True)):
        s = old["s"] + design.llr(x, n)
        if s <= 1e-9 * design.threshold:  # rounding noise around the reflecting barrier
            new.append({"s": 0.0, "zero_at": at})
            continue
        new.append({"s": s, "zero_at": old["zero_at"]})
        if fired is None and s >= design.threshold:
            fired = i
    return new, fired


def expected_delay(bank: DetectorBank, p: float) -> float:
    """Expected detection delay in events of the bank when the rate moves to p and stays.

    Approximation: the smallest zero-start ARL of its designs. The designs race, so the bank
    is a little faster; a statistic that is not at zero when the change comes is faster too.
    """
    return min(arl(design, p) for design in bank.designs)


def band(p0: float, n: int, z: float = 3.0) -> tuple[float, float]:
    """Where a share over n events stays while the rate is p0 (normal approximation)."""
    if n <= 0:
        return 0.0, 1.0
    half = z * math.sqrt(p0 * (1 - p0) / n)
    return max(0.0, p0 - half), min(1.0, p0 + half)
