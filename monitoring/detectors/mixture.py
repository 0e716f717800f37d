"""The detector of rate monitors: a mixture Shiryaev-Roberts statistic over a grid of shifts,
so it is not told the size of a shift, with its threshold set by a martingale bound for the
false-alarm budget, fed bucket by bucket. Pure Python (docs/DETECTION.md, "The mixture")."""

import math
from dataclasses import dataclass, field
from functools import lru_cache

from monitoring.detectors.chain import expit, logit
from monitoring.detectors.cusum import shifts_possible

KIND = "mixture"
# The grid of shifts (odds ratios) and the prior weight of each: a shift loses about
# ln(1 / its weight) nats of threshold. Small rises weigh most: their delays are the longest,
# so each nat costs the most events there, as in the bank; a vanished class (odds 0.01,
# nearly 0) weighs as much, its only evidence being misses at 0.02 nats each
# (docs/DETECTION.md, "The grid").
SHIFTS = (
    ("up", 1.7, 2.0),
    ("up", 2.2, 5.0),
    ("up", 2.9, 5.0),
    ("up", 4.0, 2.5),
    ("up", 6.0, 2.0),
    ("up", 10.0, 1.0),
    ("up", 18.0, 0.4),
    ("down", 0.5, 2.5),
    ("down", 0.01, 6.5),
)


@dataclass(frozen=True)
class Shift:
    direction: str  # "up" or "down"
    p1: float  # the rate after the shift this component stands for
    weight: float  # its prior weight; the detector's weights sum to 1


@dataclass(frozen=True)
class MixtureDetector:
    p0: float
    false_alarms_per_event: float  # the budget the threshold was set for
    shifts: tuple[Shift, ...]
    threshold: float  # ln(1 / budget + the weighted head start), see mixture_for
    # Per shift: ln w, and the log-likelihood steps on a success and on a miss. Kept so that
    # a bucket costs a few additions per shift (monitors are evaluated every 2 seconds).
    steps: tuple[tuple[float, float, float], ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        p0 = self.p0
        steps = tuple(
            (math.log(s.weight), math.log(s.p1 / p0), math.log((1 - s.p1) / (1 - p0)))
            for s in self.shifts
        )
        object.__setattr__(self, "steps", steps)

    def head_start(self, i: int) -> float:
        """R of shift i at a start: 1 / KL(p0 || p1), the level R sits at after a long run
        without change (the sum of e^(-j KL) over the last j events), so that a fresh
        statistic answers as fast as one that has been running."""
        p1, p0 = self.shifts[i].p1, self.p0
        return 1 / (p0 * math.log(p0 / p1) + (1 - p0) * math.log((1 - p0) / (1 - p1)))

    def llr(self, i: int, x: int, n: int) -> float:
        """Log-likelihood ratio of shift i against p0 for x successes in n events."""
        _, hit, miss = self.steps[i]
        return x * hit + (n - x) * miss

    def to_json(self) -> dict:
        return {
            "kind": KIND,
            "p0": self.p0,
            "false_alarms_per_event": self.false_alarms_per_event,
            "shifts": [
                {"direction": s.direction, "p1": s.p1, "weight": s.weight} for s in self.shifts
            ],
            "threshold": self.threshold,
        }

    @classmethod
    def from_json(cls, data: dict) -> "MixtureDetector":
        return cls(
            p0=data["p0"],
            false_alarms_per_event=data["false_alarms_per_event"],
            shifts=tuple(Shift(**s) for s in data["shifts"]),
            threshold=data["threshold"],
        )


@lru_cache(maxsize=1024)
def mixture_for(p0: float, false_alarms_per_event: float) -> MixtureDetector:
    """The mixture for baseline rate p0 and a budget of false alarms per event. Nothing to
    solve: the threshold is a bound, for any p0 and any bucket sizes. Started at R_0 = the
    weighted head start, the statistic R minus the events seen is a martingale, so its mean
    run to an alarm at R >= 1 / budget + R_0 is at least 1 / budget events."""
    clamped, chosen, total = shifts_possible(p0, false_alarms_per_event, SHIFTS)
    shifts = tuple(
        Shift(direction, expit(logit(clamped) + math.log(odds)), weight / total)
        for direction, odds, weight in chosen
    )
    unset = MixtureDetector(clamped, false_alarms_per_event, shifts, math.nan)
    head = sum(s.weight * unset.head_start(i) for i, s in enumerate(shifts))
    return MixtureDetector(
        clamped, false_alarms_per_event, shifts, math.log(1 / false_alarms_per_event + head)
    )


def mixture_start(detector: MixtureDetector) -> list[dict]:
    """Per shift: r = ln R from its head start, and a CUSUM s with zero_at for the onset."""
    return [
        {"r": math.log(detector.head_start(i)), "s": 0.0, "zero_at": None}
        for i in range(len(detector.shifts))
    ]


def _logaddexp(a: float, b: float) -> float:
    if a == -math.inf:
        return b
    high, low = max(a, b), min(a, b)
    return high + math.log1p(math.exp(low - high))


def mixture_statistic(detector: MixtureDetector, state: list[dict]) -> float:
    """ln of the weighted sum of the shifts' R: compared with the threshold."""
    total = -math.inf
    for (log_w, _, _), component in zip(detector.steps, state, strict=True):
        total = _logaddexp(total, log_w + component["r"])
    return total


def mixture_update(
    detector: MixtureDetector, state: list[dict], x: int, n: int, at: float
) -> tuple[list[dict], int | None]:
    """Feed one bucket (x successes in n events, observed at `at`). Returns the new state and,
    when the statistic reaches the threshold, the index of the shift that weighs most in it.

    Each shift's R_t = (n_t + R_{t-1}) LR_t: every event of a bucket is a candidate change
    point, so R minus the events seen is a martingale under p0 whatever the bucket sizes.
    zero_at is the last time the shift's CUSUM was 0, the CUSUM's change-point estimate.
    """
    if n <= 0:
        return state, None
    new, weighted = [], []
    log_n, misses = math.log(n), n - x
    for (log_w, hit, miss), old in zip(detector.steps, state, strict=True):
        llr = x * hit + misses * miss
        r = _logaddexp(old["r"], log_n) + llr
        s = old["s"] + llr
        if s <= 0:
            new.append({"r": r, "s": 0.0, "zero_at": at})
        else:
            new.append({"r": r, "s": s, "zero_at": old["zero_at"]})
        weighted.append(log_w + r)
    top = max(weighted)
    statistic = top + math.log(sum(math.exp(w - top) for w in weighted))
    if statistic < detector.threshold:
        return new, None
    return new, weighted.index(top)


def expected_delay(detector: MixtureDetector, p: float) -> float:
    """Expected detection delay in events, from a fresh statistic, when the rate moves to p.

    Approximation: a shift whose log-likelihood ratio drifts by D per event has, m events
    after the change, R ~ e^(D m) (R_0 + 1 / D) (the change points after it add a geometric
    series); the delay is the m at which the weighted sum of these reaches the threshold. It
    leaves out the overshoot and the noise.
    """
    if not 0 <= p <= 1:
        raise ValueError("p must be a probability")
    terms = []
    for i, shift in enumerate(detector.shifts):
        drift = p * detector.llr(i, 1, 1) + (1 - p) * detector.llr(i, 0, 1)
        if drift > 0:
            terms.append((drift, math.log(shift.weight * (detector.head_start(i) + 1 / drift))))
    if not terms:
        return math.inf

    def log_statistic(m: float) -> float:
        total = -math.inf
        for drift, level in terms:
            total = _logaddexp(total, level + drift * m)
        return total

    lo, hi = 0.0, 1.0
    while log_statistic(hi) < detector.threshold:
        lo, hi = hi, 2 * hi
    for _ in range(60):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if log_statistic(mid) < detector.threshold else (lo, mid)
    return max(hi, 1.0)
