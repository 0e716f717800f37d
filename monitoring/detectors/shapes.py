"""Distribution tests for shape monitors: PSI for the size of a shift, chi-square (categories)
or Kolmogorov-Smirnov (numeric bins) for its significance. Pure Python and numpy
(docs/DETECTION.md)."""

import math
from dataclasses import dataclass

import numpy as np

PSI_SHIFT = 0.2  # "significant shift" by the usual PSI reading; below 0.1 is "no shift"
PSI_EPSILON = 1e-4  # share used for an empty bin, so that PSI stays finite


def _shares(counts: dict[str, int], keys: list[str]) -> np.ndarray:
    values = np.array([counts.get(k, 0) for k in keys], dtype=float)
    total = values.sum()
    return values / total if total else values


def psi(expected: dict[str, int], actual: dict[str, int]) -> float:
    """Population stability index; an empty bin counts as a share of PSI_EPSILON."""
    keys = sorted(set(expected) | set(actual))
    e = np.maximum(_shares(expected, keys), PSI_EPSILON)
    a = np.maximum(_shares(actual, keys), PSI_EPSILON)
    return float(np.sum((a - e) * np.log(a / e)))


def js_divergence(p: dict[str, int], q: dict[str, int]) -> float:
    """Jensen-Shannon divergence in bits, between 0 (same) and 1 (disjoint)."""
    keys = sorted(set(p) | set(q))
    ps, qs = _shares(p, keys), _shares(q, keys)
    m = (ps + qs) / 2

    def kl(x: np.ndarray) -> float:
        nz = x > 0
        return float(np.sum(x[nz] * np.log2(x[nz] / m[nz])))

    return min(1.0, max(0.0, (kl(ps) + kl(qs)) / 2))


def chi2_sf(x: float, dof: int) -> float:
    """P(X >= x) for a chi-square variable with `dof` degrees of freedom."""
    if x <= 0:
        return 1.0
    return _gamma_q(dof / 2, x / 2)


def _gamma_q(a: float, x: float) -> float:
    """The regularized upper incomplete gamma Q(a, x): a series below a + 1, a continued
    fraction (modified Lentz) above, as in Numerical Recipes."""
    log_prefix = -x + a * math.log(x) - math.lgamma(a)
    if x < a + 1:
        term = total = 1 / a
        ap = a
        for _ in range(10_000):
            ap += 1
            term *= x / ap
            total += term
            if abs(term) < abs(total) * 1e-15:
                break
        return max(0.0, 1 - total * math.exp(log_prefix))
    tiny = 1e-300
    b = x + 1 - a
    c = 1 / tiny
    d = 1 / b
    h = d
    for i in range(1, 10_000):
        an = -i * (i - a)
        b += 2
        d = an * d + b
        d = tiny if abs(d) < tiny else d
        c = b + an / c
        c = tiny if abs(c) < tiny else c
        d = 1 / d
        delta = d * c
        h *= delta
        if abs(delta - 1) < 1e-15:
            break
    return min(1.0, math.exp(log_prefix) * h)


def chi_square(expected: dict[str, int], actual: dict[str, int]) -> tuple[float, int, float]:
    """Chi-square test of homogeneity of two count vectors (baseline against current):
    statistic, degrees of freedom, p-value. Categories empty in both are left out."""
    keys = [k for k in sorted(set(expected) | set(actual)) if expected.get(k) or actual.get(k)]
    if len(keys) < 2:
        return 0.0, 0, 1.0
    table = np.array([[expected.get(k, 0) for k in keys], [actual.get(k, 0) for k in keys]], float)
    rows, cols = table.sum(axis=1), table.sum(axis=0)
    if not rows.all():
        return 0.0, 0, 1.0
    fitted = np.outer(rows, cols) / table.sum()
    statistic = float(np.sum((table - fitted) ** 2 / fitted))
    dof = len(keys) - 1
    return statistic, dof, chi2_sf(statistic, dof)


def ks_binned(
    expected: dict[str, int], actual: dict[str, int], order: list[str]
) -> tuple[float, float]:
    """Two-sample Kolmogorov-Smirnov on binned data: the largest gap between the two
    cumulative shares over the bins in `order`, and its asymptotic p-value. Binning hides
    within-bin differences, so the statistic can only be smaller than on raw values."""
    e = np.array([expected.get(k, 0) for k in order], dtype=float)
    a = np.array([actual.get(k, 0) for k in order], dtype=float)
    n1, n2 = e.sum(), a.sum()
    if not n1 or not n2:
        return 0.0, 1.0
    statistic = float(np.max(np.abs(np.cumsum(e) / n1 - np.cumsum(a) / n2)))
    ne = n1 * n2 / (n1 + n2)
    lam = (math.sqrt(ne) + 0.12 + 0.11 / math.sqrt(ne)) * statistic
    return statistic, _kolmogorov_q(lam)


def _kolmogorov_q(lam: float) -> float:
    if lam < 0.2:
        return 1.0
    total = sum((-1) ** (j - 1) * math.exp(-2 * j * j * lam * lam) for j in range(1, 101))
    return min(1.0, max(0.0, 2 * total))


@dataclass(frozen=True)
class ShapeVerdict:
    fired: bool
    test: str
    statistic: float  # PSI, the size of the shift
    threshold: float  # PSI at which a significant shift fires
    p_value: float | None  # of the significance test (chi-square or KS)
    detail: str


def shape_shift(
    kind: str,
    baseline: dict[str, int],
    current: dict[str, int],
    order: list[str] | None = None,
    min_events: int = 200,
    alpha: float = 1e-6,
) -> ShapeVerdict:
    """Has the shape of a distribution moved? Fires when the shift is both significant
    (chi-square for categories, KS for numeric bins, p < alpha) and large (PSI >= 0.2), so
    that a tiny but significant shift on huge traffic does not page anyone."""
    if kind not in ("categorical", "numeric"):
        raise ValueError(f"unknown kind {kind!r}")
    test = "chi-square + PSI" if kind == "categorical" else "KS + PSI"
    total = sum(current.values())
    if total < min_events:
        return ShapeVerdict(
            False, test, 0.0, PSI_SHIFT, None, f"waiting for {min_events} events ({total} so far)"
        )
    size = psi(baseline, current)
    if kind == "categorical":
        statistic, dof, p_value = chi_square(baseline, current)
        significance = f"chi-square {statistic:.1f} ({dof} dof), p = {p_value:.2g}"
    else:
        bins = order or list(dict.fromkeys([*baseline, *current]))
        statistic, p_value = ks_binned(baseline, current, bins)
        significance = f"KS {statistic:.3f}, p = {p_value:.2g}"
    fired = p_value < alpha and size >= PSI_SHIFT
    detail = f"{significance} (fires below {alpha:g}); PSI {size:.3f} (fires at {PSI_SHIFT})"
    return ShapeVerdict(fired, test, size, PSI_SHIFT, p_value, detail)
