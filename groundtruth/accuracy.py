"""Ground-truth accuracy: intervals, stratified re-weighting, rater agreement, drop test.

Pure Python, no Django, so the tests and the bench run it directly.
"""

import math
from collections import Counter
from dataclasses import dataclass

Z95 = 1.959963984540054  # two-sided 95%
MIN_EFFECTIVE_N = 20  # below this a share is too noisy to call a drop on


def wilson(successes: float, n: float, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval for successes out of n; n may be fractional (an effective size).

    Wilson rather than the normal approximation because accuracy sits near 1, where the
    normal interval overshoots 100% and is too narrow for a few dozen reviews.
    """
    if n <= 0:
        return (0.0, 1.0)
    p = successes / n
    z2 = z * z
    denominator = 1 + z2 / n
    centre = (p + z2 / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / denominator
    # At p = 0 or 1 the bound is exactly 0 or 1; the formula only gets there up to rounding.
    low = 0.0 if successes <= 0 else centre - half
    high = 1.0 if successes >= n else centre + half
    return (low, high)


@dataclass(frozen=True)
class Estimate:
    correct: float  # re-weighted share correct (point estimate)
    low: float  # 95% interval
    high: float
    reviewed: int  # items with a verdict
    wrong: int  # unweighted count judged incorrect
    effective_n: float  # Kish effective sample size of the weights


EMPTY = Estimate(correct=0.0, low=0.0, high=1.0, reviewed=0, wrong=0, effective_n=0.0)


def weighted_accuracy(verdicts: list[tuple[bool, float]]) -> Estimate:
    """Share correct over (correct?, inclusion probability) verdicts, re-weighted by 1/p.

    Each item stands for 1/p outputs (Horvitz-Thompson weights), and the share is the ratio
    (Hájek) estimator sum(w * correct) / sum(w), so oversampling a stratum such as fraud flags
    does not pull the estimate towards that stratum's accuracy. The interval is Wilson's at the
    Kish effective sample size n_eff = (sum w)^2 / sum w^2 with the weighted share: unequal
    weights carry less information than as many equal ones, and n_eff says how much less.
    """
    if not verdicts:
        return EMPTY
    if any(not 0 < p <= 1 for _, p in verdicts):
        raise ValueError("inclusion probabilities must be in (0, 1]")
    weights = [1 / p for _, p in verdicts]
    total = sum(weights)
    share = sum(w for (ok, _), w in zip(verdicts, weights, strict=True) if ok) / total
    effective_n = total * total / sum(w * w for w in weights)
    low, high = wilson(share * effective_n, effective_n)
    return Estimate(
        correct=share,
        low=low,
        high=high,
        reviewed=len(verdicts),
        wrong=sum(1 for ok, _ in verdicts if not ok),
        effective_n=effective_n,
    )


def cohen_kappa(pairs: list[tuple[str, str]]) -> float | None:
    """Cohen's kappa of two raters' labels over the same items.

    None when it is undefined: fewer than two items, or both raters always giving the same
    single label (expected agreement 1, so agreement beyond chance cannot be measured).
    """
    n = len(pairs)
    if n < 2:
        return None
    observed = sum(1 for a, b in pairs if a == b) / n
    first = Counter(a for a, _ in pairs)
    second = Counter(b for _, b in pairs)
    expected = sum(first[label] * second[label] for label in first) / (n * n)
    if expected == 1:
        return None
    return (observed - expected) / (1 - expected)


def accuracy_dropped(baseline: Estimate, current: Estimate, alpha: float = 0.001) -> bool:
    """Whether current accuracy is significantly below the baseline.

    One-sided two-proportion z-test (pooled) on the weighted shares at their effective sizes,
    p < alpha; and the whole current interval must lie below the baseline point, so that a
    tiny but "significant" dip over a huge baseline does not raise an alert.
    """
    n1, n2 = baseline.effective_n, current.effective_n
    if n1 < MIN_EFFECTIVE_N or n2 < MIN_EFFECTIVE_N:
        return False
    pooled = (baseline.correct * n1 + current.correct * n2) / (n1 + n2)
    variance = pooled * (1 - pooled) * (1 / n1 + 1 / n2)
    if variance == 0:  # both all correct or all wrong: nothing dropped
        return False
    z = (baseline.correct - current.correct) / math.sqrt(variance)
    p_value = 0.5 * math.erfc(z / math.sqrt(2))
    return p_value < alpha and current.high < baseline.correct
