"""Which outputs go to human review: stratified Bernoulli sampling with known probabilities.

Pure Python, no Django. Every chosen item keeps the probability it was chosen with, so that
groundtruth.accuracy can re-weight the verdicts (Horvitz-Thompson).
"""

from dataclasses import dataclass


@dataclass(frozen=True)
class Plan:
    per_day: float  # outputs to review per day, in total
    oversample: dict[str, float]  # label -> factor, e.g. {"fraud": 10.0}: rare or risky labels
    double_share: float = 0.05  # share of sampled items that go to two reviewers


def base_probability(plan: Plan, label_counts: dict[str, int], days: float) -> float:
    """The probability for a label without a factor, given the traffic seen over `days`.

    Chosen so that the expected number sampled per day is plan.per_day when each label is
    sampled at factor x base. With no traffic seen there is nothing to scale by, so every
    event is taken until there is.
    """
    if days <= 0:
        raise ValueError("days must be positive")
    if any(factor <= 0 for factor in plan.oversample.values()):
        # A label never sampled has probability 0 and cannot be re-weighted: its accuracy
        # would silently drop out of the estimate.
        raise ValueError("oversample factors must be positive")
    weighted_per_day = (
        sum(count * plan.oversample.get(label, 1.0) for label, count in label_counts.items()) / days
    )
    if weighted_per_day == 0:
        return 1.0
    return min(1.0, plan.per_day / weighted_per_day)


def inclusion_probabilities(
    plan: Plan, label_counts: dict[str, int], days: float
) -> dict[str, float]:
    """Per label ("" for unlabelled), the probability each of its events is sampled with.

    A label's probability is its factor times the base, capped at 1. The capped excess is not
    redistributed to the other labels, so when a cap binds fewer than plan.per_day are
    expected per day; that keeps every other label at exactly the planned rate.
    """
    base = base_probability(plan, label_counts, days)
    labels = set(label_counts) | set(plan.oversample)
    return {label: min(1.0, base * plan.oversample.get(label, 1.0)) for label in labels}


def choose(
    events: list[tuple[str, str]],
    probabilities: dict[str, float],
    base: float,
    rng,
    double_share: float,
) -> list[tuple[str, float, bool]]:
    """Sample (event id, label) events: each independently with its label's probability.

    A label missing from `probabilities` gets `base`. `rng` is a random.Random, so a seed makes
    the draw reproducible. Returns (event id, probability, double?) for the chosen events;
    each goes to two reviewers with probability `double_share`.
    """
    chosen = []
    for event_id, label in events:
        probability = probabilities.get(label, base)
        if rng.random() < probability:
            chosen.append((event_id, probability, rng.random() < double_share))
    return chosen


def incident_probability(window_events: int, wanted: int = 40) -> float:
    """The rate for the extra review sample of an incident's window: about `wanted` items.

    Enough reviews to put an interval on the window's accuracy ("12 of 40 were wrong"),
    whatever the routine rate; every event when the window holds fewer than `wanted`.
    """
    if window_events <= wanted:
        return 1.0
    return wanted / window_events
