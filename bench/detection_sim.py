"""The detectors of bench/detection_delay.py simulated over many runs at once: the CUSUM bank
(or one CUSUM told the shift) and the mixture, in closed form within a chunk of events, with
the product's thresholds. A false alarm counts and restarts the detector, as the product does.
"""

import math

import numpy as np

from monitoring.detectors.chain import calibrate


def design_steps(d) -> tuple[float, float, float]:
    """(step on a success, step on a miss, threshold) of a CUSUM design."""
    return math.log(d.p1 / d.p0), math.log((1 - d.p1) / (1 - d.p0)), d.threshold


def bank_steps(bank) -> list[tuple[float, float, float]]:
    return [design_steps(d) for d in bank.designs]


def told_steps(p0: float, after: float, budget: float) -> list[tuple[float, float, float]]:
    """The CUSUM told the shift, with the whole budget. Told the class vanished (p1 = 0), a
    success rules the change out and each miss adds -ln(1 - p0): it alarms at L misses in a
    row, L the shortest run whose mean waiting time at p0 is 1 / budget events."""
    if after > 0:
        return [design_steps(calibrate("up" if after > p0 else "down", p0, after, 1 / budget))]
    q = 1 - p0
    misses = next(n for n in range(1, 10**6) if (1 - q**n) / ((1 - q) * q**n) >= 1 / budget)
    return [(-1e9, -math.log(q), (misses - 0.5) * -math.log(q))]


class Bank:
    """The bank over many runs at once. Within a chunk the CUSUM is closed form:
    s_t = s_0 + S_t - min(0, s_0 + min_{k<=t} S_k), S the running sum of increments."""

    def __init__(self, steps: list[tuple[float, float, float]], runs: int, bucket: int):
        self.a, self.b, self.h = (np.array(c)[:, None, None] for c in zip(*steps, strict=True))
        self.s = np.zeros((len(steps), runs))
        self.bucket = bucket
        self.detected = np.full(runs, -1)
        self.false_alarms = np.zeros(runs, dtype=int)

    def done(self) -> np.ndarray:
        return self.detected >= 0

    def feed(self, x: np.ndarray, t0: int, change: np.ndarray) -> None:
        rows = np.nonzero(~self.done())[0]
        if not rows.size:
            return
        k = x[rows].reshape(len(rows), -1, self.bucket).sum(axis=2)
        ends = t0 + np.arange(k.shape[1]) * self.bucket + self.bucket - 1
        z = k[None] * self.a + (self.bucket - k)[None] * self.b
        start = np.zeros(len(rows), dtype=int)
        todo = np.arange(len(rows))
        while todo.size:
            zz = np.where(np.arange(z.shape[2]) >= start[todo][:, None], z[:, todo], 0.0)
            cum = np.cumsum(zz, axis=2)
            s0 = self.s[:, rows[todo], None]
            s = s0 + cum - np.minimum(0.0, s0 + np.minimum.accumulate(cum, axis=2))
            hit = (s >= self.h).any(axis=0)
            fired = hit.any(axis=1)
            quiet = todo[~fired]
            self.s[:, rows[quiet]] = s[:, ~fired, -1]
            again = []
            for j, step in zip(todo[fired], hit[fired].argmax(axis=1), strict=True):
                run = rows[j]
                if ends[step] >= change[run]:
                    self.detected[run] = ends[step]
                else:  # a false alarm: count it, reset, carry on after it
                    self.false_alarms[run] += 1
                    self.s[:, run] = 0.0
                    start[j] = step + 1
                    again.append(j)
            todo = np.array(again, dtype=int)


class Mixture:
    """The mixture over many runs at once: the product's recursion, a step at a time over the
    buckets, each step over every shift and run together (in logs, as the product keeps it)."""

    def __init__(self, detector, runs: int, bucket: int):
        shifts = detector.shifts
        self.a = np.array([detector.llr(i, 1, 1) for i in range(len(shifts))])[:, None, None]
        self.b = np.array([detector.llr(i, 0, 1) for i in range(len(shifts))])[:, None, None]
        self.log_w = np.log([s.weight for s in shifts])[:, None]
        self.head = np.log([detector.head_start(i) for i in range(len(shifts))])
        self.threshold = detector.threshold
        self.r = np.repeat(self.head[:, None], runs, axis=1)
        self.bucket = bucket
        self.detected = np.full(runs, -1)
        self.false_alarms = np.zeros(runs, dtype=int)

    def done(self) -> np.ndarray:
        return self.detected >= 0

    def feed(self, x: np.ndarray, t0: int, change: np.ndarray) -> None:
        rows = np.nonzero(~self.done())[0]
        if not rows.size:
            return
        k = x[rows].reshape(len(rows), -1, self.bucket).sum(axis=2)
        z = k[None] * self.a + (self.bucket - k)[None] * self.b
        r = self.r[:, rows]
        log_n = math.log(self.bucket)
        watching = np.ones(len(rows), dtype=bool)
        for step in range(z.shape[2]):
            r = np.logaddexp(r, log_n) + z[:, :, step]
            statistic = np.logaddexp.reduce(r + self.log_w, axis=0)
            for j in np.nonzero((statistic >= self.threshold) & watching)[0]:
                run, end = rows[j], t0 + step * self.bucket + self.bucket - 1
                if end >= change[run]:
                    self.detected[run] = end
                    watching[j] = False
                else:  # a false alarm: count it, restart from the head start, carry on
                    self.false_alarms[run] += 1
                    r[:, j] = self.head
        self.r[:, rows] = r
