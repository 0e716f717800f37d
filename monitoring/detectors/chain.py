"""A Bernoulli CUSUM design, its average run length from its exact Markov chain, and the
calibration of its threshold for a run length. Pure Python and numpy (docs/DETECTION.md)."""

import math
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

# The two log-likelihood steps of a design are made commensurate (big = R/F x small, F <= 20)
# so that the CUSUM lives on a lattice and its Markov chain is exact; R >= 20 keeps the
# adjusted design within a few per cent of the nominal odds ratio.
LATTICE = 20
# Run lengths past this are "never" here: doubles cannot resolve the chain beyond it.
ARL_RESOLVED = 1e14


@dataclass(frozen=True)
class CusumDesign:
    direction: str  # "up" or "down"
    p0: float  # baseline probability per event
    p1: float  # the alternative this CUSUM is tuned for
    threshold: float  # h, in log-likelihood-ratio units

    def llr(self, x: int, n: int) -> float:
        """Log-likelihood ratio of p1 against p0 for x successes in n events."""
        return x * math.log(self.p1 / self.p0) + (n - x) * math.log((1 - self.p1) / (1 - self.p0))


# --- The CUSUM as a Markov chain on a lattice ---------------------------------------------
#
# With unit d, a design moves the statistic T units toward its threshold on one outcome
# (probability pi) and W units away on the other, reflecting at 0; it alarms at H units.
# f(i), the average run length from state i, solves f(i) = 1 + pi f(i+T) + (1-pi) f(i-W)
# (Brook & Evans). Small chains are solved directly. Rare rates make long chains (H grows
# like 1/p0) but then one step is a single unit, taken with probability >= 0.9: a linear
# recurrence solves the chain in control, a Riccati sweep out of control.


def _steps(design: CusumDesign) -> tuple[float, int, int, bool]:
    """(unit, T, W, toward_on_success) of the design's lattice; exact for designs made by
    bank_for, the nearest lattice with a small denominator for any other design."""
    a = abs(math.log(design.p1 / design.p0))
    b = abs(math.log((1 - design.p1) / (1 - design.p0)))
    big, small = max(a, b), min(a, b)
    ratio = Fraction(big / small).limit_denominator(LATTICE)
    if abs(float(ratio) - big / small) > 1e-9 * big / small:
        f = math.ceil(LATTICE * small / big)
        ratio = Fraction(round(big / small * f), f)
    unit = small / ratio.denominator
    if a >= b:
        success, failure = ratio.numerator, ratio.denominator
    else:
        success, failure = ratio.denominator, ratio.numerator
    if design.p1 > design.p0:
        return unit, success, failure, True
    return unit, failure, success, False


def _chain(design: CusumDesign, p: float) -> tuple[int, int, float, int]:
    """(T, W, pi, H) of the design's chain when the true rate is p."""
    unit, t, w, toward_on_success = _steps(design)
    pi = p if toward_on_success else 1 - p
    return t, w, pi, math.ceil(design.threshold / unit - 1e-9)


def _frequent_unit_step(t: int, w: int, pi: float) -> str | None:
    """Which one-unit step, taken with probability >= 0.9, the recurrence may divide by."""
    if w == 1 and 1 - pi >= 0.9:
        return "away"
    if t == 1 and pi >= 0.9:
        return "toward"
    return None


def _recursion(t: int, w: int, pi: float, rows: int) -> tuple[np.ndarray, bool]:
    """The chain's equations as a linear recurrence over the states, solved for the
    frequent one-unit step: f is carried as (constant, coefficient) of one unknown value,
    which the boundary at any threshold H then fixes (`_recursion_arl`). One pass serves
    every H, which makes calibration cheap.

    Stepping away: over distances k = H-1-i below the threshold, g(k+1) = (g(k) - 1 -
    pi g(k-T)) / (1-pi), from the unknown g(0). Stepping toward: over states,
    f(i+1) = (f(i) - 1 - (1-pi) f(max(0, i-W))) / pi, from the unknown f(0).
    """
    if _frequent_unit_step(t, w, pi) == "away":
        o, pd, po, from_bottom = t, 1 - pi, pi, False
    else:
        o, pd, po, from_bottom = w, pi, 1 - pi, True
    # y[n] = rho (y[n-1] + e[n]) with e[n] known for the next o + 1 rows: solved in blocks in
    # closed form (a cumulative sum), each block short enough that rho**j stays below e**2.
    rho = 1 / pd
    chain = 1 + o if rho == 1 else max(1, min(1 + o, int(2 / math.log(rho))))
    y = np.zeros((o + rows + chain + 1, 2))
    y[o, 1] = 1.0
    if from_bottom:
        y[:o] = y[o]  # a step below 0 lands on 0
    e0 = np.array([1.0, 0.0])
    n = 1
    while n <= rows:
        e = -e0 - po * y[n - 1 : n - 1 + chain]  # y[o + n - 1 - o]: o rows of padding
        s = np.cumsum(e * (rho ** -np.arange(chain))[:, None], axis=0)
        y[o + n : o + n + chain] = rho ** np.arange(1, chain + 1)[:, None] * (y[o + n - 1] + s)
        n += chain
    return y[o:], from_bottom


def _recursion_arl(y: np.ndarray, from_bottom: bool, hs: np.ndarray) -> np.ndarray:
    """ARL from 0 for each threshold in `hs` (units), from `_recursion`'s rows; inf where
    it is beyond what doubles resolve (the denominators vanish past about 1e15)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        if from_bottom:  # f(H) = 0 fixes f(0), the unknown
            arls = -y[hs, 0] / y[hs, 1]
        else:  # the reflection at 0 continues g flat past state 0: g(H) = g(H-1)
            c = (y[hs - 1, 0] - y[hs, 0]) / (y[hs, 1] - y[hs - 1, 1])
            arls = y[hs - 1, 0] + y[hs - 1, 1] * c
    return np.where((arls > 0) & (arls < ARL_RESOLVED), arls, np.inf)


def _dense_arl(t: int, w: int, pi: float, h: int) -> float:
    """Brook & Evans directly: solve (I - Q) f = 1 on the H transient states."""
    q = np.zeros((h, h))
    i = np.arange(h)
    up = i + t
    inside = up < h
    q[i[inside], up[inside]] += pi
    q[i, np.maximum(0, i - w)] += 1 - pi
    return float(np.linalg.solve(np.eye(h) - q, np.ones(h))[0])


def _riccati_arl(t: int, pi: float, h: int) -> float:
    """The chain with W = 1 eliminated from the threshold down, stable for any drift.

    Each state becomes f(i) = alpha_i + beta_i f(i-1); f(i+T) is then the composition of T
    such maps applied to f(i), kept over the sliding window by a two-stack queue, so the cost
    is linear in H.
    """
    back: list[tuple[float, float]] = []  # maps of the inner end of the window, oldest first
    back_agg = (0.0, 1.0)
    front: list[tuple[float, float]] = []  # composites, the outermost map's on top
    for i in range(h - 1, -1, -1):
        if i + t >= h:
            big_a, big_b = 0.0, 0.0  # f(i+T) = 0: past the threshold
        else:
            fa, fb = front[-1] if front else (0.0, 1.0)
            big_a, big_b = fa + fb * back_agg[0], fb * back_agg[1]
        if i == 0:
            return (1 + pi * big_a) / (pi * (1 - big_b))
        d = 1 - pi * big_b
        m = ((1 + pi * big_a) / d, (1 - pi) / d)
        back.append(m)
        back_agg = (back_agg[0] + back_agg[1] * m[0], back_agg[1] * m[1])
        if i + t < h:  # the window of state i - 1 drops f(i+T)'s map
            if not front:
                agg = (0.0, 1.0)
                for a, b in reversed(back):
                    agg = (a + b * agg[0], b * agg[1])
                    front.append(agg)
                back, back_agg = [], (0.0, 1.0)
            front.pop()
    raise AssertionError("the loop returns at state 0")


def _arl_units(t: int, w: int, pi: float, h: int) -> float:
    value = _arl_solved(t, w, pi, h)
    return value if 0 < value < ARL_RESOLVED else math.inf


def _arl_solved(t: int, w: int, pi: float, h: int) -> float:
    if pi <= 0:
        return math.inf  # never a step toward the threshold
    in_control = pi * t <= (1 - pi) * w  # drifting away from the threshold
    if in_control and h * _wald_root(t, w, pi) > math.log(ARL_RESOLVED):
        # Each excursion from 0 reaches H with probability at most e^(-u H) (optional
        # stopping on e^(u S)), so the ARL is past resolving: say so without solving.
        return math.inf
    step = _frequent_unit_step(t, w, pi)
    if step and h > t + w:
        pd = 1 - pi if step == "away" else pi
        # The recurrence amplifies rounding by up to pd**-h: harmless in control, where the
        # ARL itself grows that fast, and for a mild drift toward the threshold.
        if in_control or h * -math.log(pd) < 20:
            y, from_bottom = _recursion(t, w, pi, h)
            return float(_recursion_arl(y, from_bottom, np.array([h]))[0])
    if w == 1 and h > 1000:
        return _riccati_arl(t, pi, h)
    return _dense_arl(t, w, pi, h)


def _wald_root(t: int, w: int, pi: float) -> float:
    """The u > 0 with pi e^(u T) + (1 - pi) e^(-u W) = 1, for a walk drifting away."""
    lo, hi = 0.0, math.log(1 / pi) / t
    for _ in range(100):
        mid = (lo + hi) / 2
        if pi * math.exp(mid * t) + (1 - pi) * math.exp(-mid * w) < 1:
            lo = mid
        else:
            hi = mid
    return lo


def arl(design: CusumDesign, p: float) -> float:
    """Average run length in events, from a zero statistic, when the true rate is p."""
    if not 0 <= p <= 1:
        raise ValueError("p must be a probability")
    return _arl_units(*_chain(design, p))


def calibrate(direction: str, p0: float, p1: float, arl0: float) -> CusumDesign:
    """The design (p1 nudged onto an exact lattice) with the smallest threshold whose
    in-control ARL is at least arl0."""
    p1 = _commensurate(p0, p1)
    unit, t, w, toward_on_success = _steps(CusumDesign(direction, p0, p1, 0.0))
    pi = p0 if toward_on_success else 1 - p0
    # Wald's approximation ARL0 ~ e^h / I0 gives the scale; the chain gives the answer.
    info = p0 * math.log(p0 / p1) + (1 - p0) * math.log((1 - p0) / (1 - p1))
    guess = t + w + 1 + math.ceil(max(math.log(arl0 * info), 1.0) / unit)
    if _frequent_unit_step(t, w, pi):
        rows = 2 * guess
        while True:
            y, from_bottom = _recursion(t, w, pi, rows)
            hs = np.arange(t + w + 1, rows + 1)
            enough = np.nonzero(_recursion_arl(y, from_bottom, hs) >= arl0)[0]
            if enough.size:
                return CusumDesign(direction, p0, p1, float(hs[enough[0]] - 0.5) * unit)
            rows *= 2
    h = _smallest(lambda h: _arl_units(t, w, pi, h), arl0, guess)
    return CusumDesign(direction, p0, p1, (h - 0.5) * unit)


def _smallest(arl_at, target: float, guess: int) -> int:
    """The smallest H with arl_at(H) >= target, for an increasing, roughly exponential
    arl_at: bracket, then interpolate on log ARL (halving while the top is unresolved)."""
    lo, hi = 0, guess
    values = {}

    def log_arl(h: int) -> float:
        if h not in values:
            values[h] = math.log(arl_at(h))
        return values[h]

    while log_arl(hi) < math.log(target):
        lo, hi = hi, 2 * hi
    while hi - lo > 1:
        if lo == 0 or math.isinf(log_arl(hi)):
            mid = (lo + hi) // 2
        else:
            frac = (math.log(target) - log_arl(lo)) / (log_arl(hi) - log_arl(lo))
            mid = min(hi - 1, max(lo + 1, round(lo + frac * (hi - lo))))
        if log_arl(mid) >= math.log(target):
            hi = mid
        else:
            lo = mid
    return hi


def _commensurate(p0: float, p1: float) -> float:
    """The p1 nearest the nominal one whose two log-likelihood steps have a ratio R/F with
    F <= LATTICE and R >= LATTICE (found by bisection on the log-odds)."""

    def a_over_b(q: float) -> float:
        return abs(math.log(q / p0)) / abs(math.log((1 - q) / (1 - p0)))

    r = a_over_b(p1)
    big = max(r, 1 / r)
    f = math.ceil(LATTICE / big)
    goal = round(big * f) / f
    goal = goal if r >= 1 else 1 / goal
    lo, hi = (logit(p0), 30.0) if p1 > p0 else (-30.0, logit(p0))
    for _ in range(100):
        mid = (lo + hi) / 2
        if a_over_b(expit(mid)) > goal:  # a/b falls as p1 rises, on either side of p0
            lo = mid
        else:
            hi = mid
    return expit((lo + hi) / 2)


def logit(p: float) -> float:
    return math.log(p / (1 - p))


def expit(x: float) -> float:
    return 1 / (1 + math.exp(-x))
