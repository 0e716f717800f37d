"""Detection delay of a fraud-share monitor (docs/PERFORMANCE.md).

A stream of 10 events/s whose fraud share is p0 = 2%. The product's detector is the mixture
Shiryaev-Roberts statistic from `monitoring.detectors.mixture.mixture_for(0.02, 1e-6)`; before
it, the bank of Bernoulli CUSUMs from `monitoring.detectors.cusum.bank_for(0.02, 1e-6)`. Both
are set for at most one false alarm per 10^6 events and are not told the size of the shift.
Measured, on the same simulated streams:

1. Mean detection delay (events from the change to the alarm) for abrupt shifts 2%->9%,
   2%->5%, 2%->0%, and a ramp 2%->9% over one hour (36,000 events). The change comes at a
   random event after a warm-up, so every detector starts from its steady state. Per event,
   and at the product's cadence: 1-second rollup buckets (10 events each), and 2-second.
2. False alarms with no shift, per 10^6 events, over several streams of 10^6 events.
3. river's ADWIN at its defaults (a bench-only dependency: bench/requirements-bench.txt),
   per event: its delay and its false-alarm rate measured here, then the bank re-calibrated
   to that rate (1e-6 if ADWIN raised none) on the same streams, and the ratio.
4. A fixed one-hour-window chi-square test (the window's fraud count against p0, 1 dof),
   evaluated every 5 minutes (3,000 events), its alpha set by simulation for the bank's
   budget, one false alarm per 10^6 events. Its delay and the ratio to the bank's.
5. The mixture beside a CUSUM told the exact shift (the whole budget, its threshold from its
   Markov chain; for 2%->0%, a run of misses), per event and in 2-second buckets, and the
   mixture beside ADWIN at ADWIN's false-alarm rate (its false alarms are in 2.).

A false alarm before the change counts as one and resets that detector, as the product does;
the delay is to the first alarm at or after the change. No Django: the detector module is
pure numpy.

    .venv/bin/pip install -r bench/requirements-bench.txt
    .venv/bin/python bench/detection_delay.py [--runs 1000] [--null-streams 20] [--seed 1]
"""

import argparse
import math
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.detection_sim import Bank, Mixture, bank_steps, told_steps
from monitoring.detectors.chain import arl
from monitoring.detectors.cusum import bank_for, bank_start, bank_update
from monitoring.detectors.mixture import mixture_for, mixture_start, mixture_update
from monitoring.detectors.shapes import chi2_sf

RATE = 10  # events per second
P0 = 0.02
BUDGET = 1e-6  # false alarms per event
BUCKETS = (10, 20)  # events in a 1-second and a 2-second rollup bucket
BLOCK = 3_000  # 5 minutes: the chi-square's evaluation step, and the simulation's chunk
WINDOW_BLOCKS = 12  # the chi-square's one-hour window, in blocks
# The change comes at a uniform event in this range: past one hour, so that the chi-square's
# window is full and ADWIN has a long history, as on a stream that has been running a while.
WARM_UP = (36_000, 54_000)
HORIZON = 400_000  # events after the change before a run counts as missed
NULL_EVENTS = 10**6  # events per no-shift stream
RAMP = 36_000
BATCH = 250  # runs simulated together

SCENARIOS = [  # (name, rate after the change, ramp length, target mean delay)
    ("2% -> 9%", 0.09, 0, 220),
    ("2% -> 5%", 0.05, 0, 650),
    ("2% -> 0%", 0.0, 0, 850),
    ("2% -> 9% ramp 1 h", 0.09, RAMP, None),
]


class Adwin:
    def __init__(self, runs: int):
        from river.drift import ADWIN

        self.detectors = [ADWIN() for _ in range(runs)]
        self.detected = np.full(runs, -1)
        self.false_alarms = np.zeros(runs, dtype=int)

    def done(self) -> np.ndarray:
        return self.detected >= 0

    def feed(self, x: np.ndarray, t0: int, change: np.ndarray) -> None:
        for run in np.nonzero(~self.done())[0]:
            detector = self.detectors[run]
            for i, value in enumerate(x[run].tolist()):
                detector.update(value)
                if detector.drift_detected:
                    if t0 + i >= change[run]:
                        self.detected[run] = t0 + i
                        break
                    self.false_alarms[run] += 1


class HourlyChiSquare:
    """The fraud count of the last hour against p0, evaluated at the end of every block. An
    alarm is the statistic crossing the critical value; it stays raised while it is over."""

    def __init__(self, runs: int, critical: float):
        self.critical = critical
        self.blocks = np.zeros((runs, WINDOW_BLOCKS), dtype=int)
        self.filled = 0
        self.over = np.zeros(runs, dtype=bool)
        self.detected = np.full(runs, -1)
        self.false_alarms = np.zeros(runs, dtype=int)

    def done(self) -> np.ndarray:
        return self.detected >= 0

    def feed(self, x: np.ndarray, t0: int, change: np.ndarray) -> None:
        if x.shape[1] != BLOCK:
            return  # a partial block is never evaluated
        self.blocks = np.roll(self.blocks, -1, axis=1)
        self.blocks[:, -1] = x.sum(axis=1)
        self.filled += 1
        if self.filled < WINDOW_BLOCKS:
            return
        over = _chi_square_1dof(self.blocks.sum(axis=1)) > self.critical
        end = t0 + BLOCK - 1
        after = end >= change
        self.detected[over & after & ~self.done()] = end
        self.false_alarms[over & ~self.over & ~after] += 1
        self.over = over


def _chi_square_1dof(count: np.ndarray) -> np.ndarray:
    n = BLOCK * WINDOW_BLOCKS
    return (count - n * P0) ** 2 / (n * P0 * (1 - P0))


def chi_square_critical(rng) -> float:
    """The critical value at which the hourly chi-square raises BUDGET false alarms per
    event. Consecutive windows overlap by 11/12, so the statistic stays over for several
    evaluations once it crosses: alpha = BUDGET x BLOCK per evaluation would spend only
    part of the budget. Simulated on block counts (1.5 x 10^10 events), bisected on the
    critical value with the same draws throughout."""
    streams, steps = 10_000, 500
    blocks = rng.binomial(BLOCK, P0, size=(steps + WINDOW_BLOCKS, streams))
    cumulative = np.concatenate([np.zeros((1, streams), dtype=np.int64), blocks.cumsum(axis=0)])
    statistic = _chi_square_1dof(cumulative[WINDOW_BLOCKS:] - cumulative[:-WINDOW_BLOCKS])
    goal = BUDGET * streams * steps * BLOCK
    lo, hi = 1.0, 40.0
    for _ in range(40):
        mid = (lo + hi) / 2
        over = statistic > mid
        crossings = int((over[1:] & ~over[:-1]).sum())
        lo, hi = (mid, hi) if crossings > goal else (lo, mid)
    return hi


def rate_at(t: np.ndarray, change: np.ndarray, after: float, ramp: int) -> np.ndarray:
    since = t[None, :] - change[:, None]
    if ramp:
        shifted = P0 + (after - P0) * np.clip((since + 1) / ramp, 0.0, 1.0)
    else:
        shifted = np.full(since.shape, after)
    return np.where(since >= 0, shifted, P0)


def simulate(rng, change, after, ramp, detectors, length=None) -> int:
    """Feed one batch of streams to every detector, block by block, until each has
    detected the change in every run (or the horizon, or `length` events). Returns the
    number of events simulated per stream."""
    t0 = 0
    end = length or int(change.max()) + HORIZON
    while t0 < end and not all(d.done().all() for d in detectors):
        size = min(BLOCK, end - t0)
        t = np.arange(t0, t0 + size)
        x = (rng.random((len(change), size)) < rate_at(t, change, after, ramp)).astype(np.int64)
        for detector in detectors:
            detector.feed(x, t0, change)
        t0 += size
    return t0


def delays(detected: np.ndarray, change: np.ndarray) -> tuple[float, float, int]:
    """Mean delay in events (first event after the change counts 1), its standard error,
    and the number of runs that missed the horizon."""
    hit = detected >= 0
    d = detected[hit] - change[hit] + 1
    return float(d.mean()), float(d.std(ddof=1) / math.sqrt(len(d))), int((~hit).sum())


def describe(bank) -> str:
    return ", ".join(f"{d.direction} {d.p1:.2%} h={d.threshold:.2f}" for d in bank.designs)


def describe_mixture(mixture) -> str:
    return ", ".join(f"{s.direction} {s.p1:.2%} w={s.weight:.3f}" for s in mixture.shifts)


def update_cost(bank, mixture, buckets: int = 20_000) -> str:
    """Microseconds per bucket of the product's update, the mixture's against the bank's."""
    x = np.random.default_rng(0).binomial(20, P0, size=buckets).tolist()
    timings = []
    for start, update, detector in (
        (bank_start, bank_update, bank),
        (mixture_start, mixture_update, mixture),
    ):
        state = start(detector)
        t = time.perf_counter()
        for k in x:
            state, _ = update(detector, state, k, 20, 0.0)
        timings.append((time.perf_counter() - t) / buckets * 1e6)
    return (
        f"per-bucket update (20 events): bank_update {timings[0]:.1f} µs, "
        f"mixture_update {timings[1]:.1f} µs ({timings[1] / timings[0]:.2f}x)"
    )


def false_alarms(bank, mixture, critical: float, streams: int, seed: int) -> dict[str, list[int]]:
    """False alarms per stream of 10^6 unshifted events, for every detector."""
    names = ["bank, per event", "bank, 1 s buckets", "bank, 2 s buckets"]
    names += ["mixture, per event", "mixture, 2 s", "ADWIN", "chi-square"]
    counts = {name: [] for name in names}
    for i in range(0, streams, BATCH):
        runs = min(BATCH, streams - i)
        never = np.full(runs, np.iinfo(np.int64).max)
        detectors = [Bank(bank_steps(bank), runs, size) for size in (1, *BUCKETS)]
        detectors += [Mixture(mixture, runs, 1), Mixture(mixture, runs, BUCKETS[1])]
        detectors += [Adwin(runs), HourlyChiSquare(runs, critical)]
        simulate(np.random.default_rng([seed, 0, i]), never, P0, 0, detectors, NULL_EVENTS)
        for name, detector in zip(counts, detectors, strict=True):
            counts[name] += detector.false_alarms.tolist()
    return counts


def detection_delays(detectors_of, runs: int, seed: int) -> dict:
    """Per scenario and detector: (mean delay, standard error, runs missed), all detectors
    on the same streams; `detectors_of(after, runs)` makes them, by name."""
    results = {}
    for number, (name, after, ramp, _) in enumerate(SCENARIOS, start=1):
        found: dict[str, list] = {}
        changes = []
        for batch, i in enumerate(range(0, runs, BATCH)):
            size = min(BATCH, runs - i)
            rng = np.random.default_rng([seed, number, batch])
            change = rng.integers(*WARM_UP, size=size)
            detectors = detectors_of(after, size)
            simulate(rng, change, after, ramp, list(detectors.values()))
            for key, detector in detectors.items():
                found.setdefault(key, []).append(detector.detected)
            changes.append(change)
        change = np.concatenate(changes)
        results[name] = {key: delays(np.concatenate(parts), change) for key, parts in found.items()}
    return results


def cell(value: tuple[float, float, int]) -> str:
    mean, se, missed = value
    return f"{mean:,.0f} ± {se:,.0f}" + (f" ({missed} missed)" if missed else "")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=1000, help="runs per scenario")
    parser.add_argument("--null-streams", type=int, default=200, help="no-shift streams of 10^6")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    started = time.perf_counter()
    print("Detection delay: fraud share p0 = 2% at 10 events/s (docs/PERFORMANCE.md)")
    print(
        f"command: .venv/bin/python bench/detection_delay.py --runs {args.runs} "
        f"--null-streams {args.null_streams} --seed {args.seed}"
    )
    print(
        f"seeds: numpy default_rng([{args.seed}, 0, batch]) for the no-shift streams, "
        f"default_rng([{args.seed}, scenario 1..4, batch]) for the shifted runs, "
        f"default_rng([{args.seed}, 5]) for the chi-square's calibration"
    )
    t = time.perf_counter()
    bank = bank_for(P0, BUDGET)
    print(f"bank_for(0.02, 1e-6) in {(time.perf_counter() - t) * 1e3:.0f} ms: {describe(bank)}")
    mixture = mixture_for(P0, BUDGET)
    print(f"mixture_for(0.02, 1e-6): ln A = {mixture.threshold:.3f}; {describe_mixture(mixture)}")
    print(update_cost(bank, mixture))
    critical = chi_square_critical(np.random.default_rng([args.seed, 5]))

    counts = false_alarms(bank, mixture, critical, args.null_streams, args.seed)
    total = args.null_streams * NULL_EVENTS
    adwin_rate = sum(counts["ADWIN"]) / total
    recalibrated = bank_for(P0, adwin_rate or BUDGET)
    mixture_adwin = mixture_for(P0, adwin_rate or BUDGET)

    def detectors_of(after: float, size: int) -> dict:
        told = told_steps(P0, after, BUDGET)
        return {
            "event": Bank(bank_steps(bank), size, 1),
            "1 s": Bank(bank_steps(bank), size, BUCKETS[0]),
            "2 s": Bank(bank_steps(bank), size, BUCKETS[1]),
            "recalibrated": Bank(bank_steps(recalibrated), size, 1),
            "adwin": Adwin(size),
            "chi": HourlyChiSquare(size, critical),
            "told": Bank(told, size, 1),
            "told 2 s": Bank(told, size, BUCKETS[1]),
            "mixture": Mixture(mixture, size, 1),
            "mixture 2 s": Mixture(mixture, size, BUCKETS[1]),
            "mixture, ADWIN's rate": Mixture(mixture_adwin, size, 1),
        }

    results = detection_delays(detectors_of, args.runs, args.seed)

    print()
    print(
        f"1. Mean detection delay, events after the change (± standard error; {args.runs} runs "
        f"per scenario, change uniform in events [{WARM_UP[0]:,}, {WARM_UP[1]:,}))"
    )
    print(
        f"   {'scenario':<20}{'per event':>16}{'1 s buckets':>16}{'seconds':>9}"
        f"{'2 s buckets':>16}{'target':>9}"
    )
    for name, _, _, target in SCENARIOS:
        r = results[name]
        seconds = f"{r['1 s'][0] / RATE:,.0f}"
        goal = f"≤ {target}" if target else "-"
        print(
            f"   {name:<20}{cell(r['event']):>16}{cell(r['1 s']):>16}{seconds:>9}"
            f"{cell(r['2 s']):>16}{goal:>9}"
        )
    print()
    print(
        f"2. False alarms with no shift, per 10^6 events ± standard error ({args.null_streams} "
        f"streams of 10^6 events; target ≤ 1 for the bank and the mixture)"
    )
    expected = sum(1e6 / arl(d, P0) for d in bank.designs)
    print(f"   the bank's calibration: sum of its designs' 1/ARL0 = {expected:.2f} per 10^6")
    for name, per_stream in counts.items():
        alarms = sum(per_stream)
        rate = f"{alarms / total * 1e6:.2f} ± {math.sqrt(alarms) / total * 1e6:.2f}"
        spread = " ".join(str(c) for c in per_stream[:20])
        more = " …" if len(per_stream) > 20 else ""
        print(f"   {name:<20}{rate:>12}   first streams: {spread}{more}")
    print()
    note = (
        f"{adwin_rate * 1e6:.3f} per 10^6 here"
        if adwin_rate
        else "none in this run, so the bank stays at 1 per 10^6"
    )
    print(
        f"3. river ADWIN (defaults, per event): false alarms {note}; "
        f"bank_for(0.02, {adwin_rate or BUDGET:.3g}): {describe(recalibrated)}"
    )
    print(f"   {'scenario':<20}{'ADWIN':>18}{'bank, same rate':>18}{'ADWIN / bank':>14}  target")
    for name, _, _, target in SCENARIOS:
        r = results[name]
        ratio = r["adwin"][0] / r["recalibrated"][0]
        goal = "≥ 1" if target else "-"
        adwin, same = cell(r["adwin"]), cell(r["recalibrated"])
        print(f"   {name:<20}{adwin:>18}{same:>18}{ratio:>14.2f}  {goal}")
    print()
    print(
        f"4. One-hour-window chi-square every 5 minutes, alpha = {chi2_sf(critical, 1):.2g} per "
        f"evaluation (chi-square > {critical:.2f}, set by simulation for 1 false alarm per 10^6 "
        f"events; measured in 2.); ratio to the bank at 1 s buckets"
    )
    print(f"   {'scenario':<20}{'chi-square':>18}{'bank, 1 s':>18}{'chi / bank':>14}  target")
    for name, _, _, target in SCENARIOS:
        r = results[name]
        ratio = r["chi"][0] / r["1 s"][0]
        goal = "≥ 10" if target else "-"
        print(f"   {name:<20}{cell(r['chi']):>18}{cell(r['1 s']):>18}{ratio:>14.1f}  {goal}")
    print()
    print(
        "5. The mixture (not told the shift) beside a CUSUM told it (the whole budget), on the "
        "same streams; target: mixture / told ≤ 1.2"
    )
    print(
        f"   {'scenario':<20}{'told, event':>14}{'mixture':>14}{'ratio':>7}"
        f"{'told, 2 s':>14}{'mixture, 2 s':>14}{'ratio':>7}"
    )
    for name, _, _, _ in SCENARIOS:
        r = results[name]
        first = r["mixture"][0] / r["told"][0]
        second = r["mixture 2 s"][0] / r["told 2 s"][0]
        print(
            f"   {name:<20}{cell(r['told']):>14}{cell(r['mixture']):>14}{first:>7.2f}"
            f"{cell(r['told 2 s']):>14}{cell(r['mixture 2 s']):>14}{second:>7.2f}"
        )
    print(
        f"   at ADWIN's rate ({adwin_rate or BUDGET:.3g} per event, mixture_for(0.02, that)); "
        "target: ADWIN / mixture ≥ 1"
    )
    print(f"   {'scenario':<20}{'ADWIN':>14}{'mixture':>14}{'ADWIN / mixture':>17}")
    for name, _, _, _ in SCENARIOS:
        r = results[name]
        ratio = r["adwin"][0] / r["mixture, ADWIN's rate"][0]
        mixed = cell(r["mixture, ADWIN's rate"])
        print(f"   {name:<20}{cell(r['adwin']):>14}{mixed:>14}{ratio:>17.2f}")
    print()
    print(f"({time.perf_counter() - started:.0f} s)")


if __name__ == "__main__":
    main()
