"""Accuracy math: Wilson intervals, re-weighting for stratified samples, kappa, drop test.

Pure functions: no database.
"""

import random

import pytest

from groundtruth.accuracy import (
    Estimate,
    accuracy_dropped,
    cohen_kappa,
    weighted_accuracy,
    wilson,
)
from groundtruth.sampling import Plan, choose, inclusion_probabilities


def _rng(seed: int) -> random.Random:
    return random.Random(seed)


def _share(share: float, n: int) -> Estimate:
    """An unweighted estimate: share correct out of n reviews."""
    low, high = wilson(share * n, n)
    return Estimate(
        correct=share, low=low, high=high, reviewed=n, wrong=round((1 - share) * n), effective_n=n
    )


def test_wilson_matches_known_intervals():
    assert wilson(346, 385) == pytest.approx((0.865, 0.925), abs=5e-4)
    assert wilson(98, 100) == pytest.approx((0.930, 0.994), abs=5e-4)


def test_wilson_with_no_trials_is_the_whole_range():
    assert wilson(0, 0) == (0.0, 1.0)


def test_wilson_stays_within_zero_and_one():
    assert wilson(0, 10)[0] == 0.0
    assert wilson(10, 10)[1] == 1.0


def test_it_reweights_strata_by_their_inclusion_probability():
    verdicts = (
        [(True, 0.5)] * 3
        + [(False, 0.5)]  # stratum A: weight 2 each
        + [(True, 0.1), (False, 0.1)]  # stratum B: weight 10 each
        + [(True, 1.0)] * 2  # stratum C: weight 1 each
    )
    estimate = weighted_accuracy(verdicts)
    # sum w = 4*2 + 2*10 + 2*1 = 30; sum w*correct = 3*2 + 1*10 + 2*1 = 18 -> 18/30 = 0.6,
    # where the unweighted share would be 6/8 = 0.75.
    assert estimate.correct == pytest.approx(0.6)
    # sum w^2 = 4*4 + 2*100 + 2*1 = 218 -> n_eff = 30^2 / 218
    n_eff = 900 / 218
    assert estimate.effective_n == pytest.approx(n_eff)
    assert (estimate.low, estimate.high) == pytest.approx(wilson(0.6 * n_eff, n_eff))
    assert (estimate.reviewed, estimate.wrong) == (8, 2)


def test_equal_weights_give_the_plain_share_and_its_wilson_interval():
    estimate = weighted_accuracy([(True, 0.2)] * 346 + [(False, 0.2)] * 39)
    assert estimate.correct == pytest.approx(346 / 385)
    assert estimate.effective_n == pytest.approx(385)
    assert (estimate.low, estimate.high) == pytest.approx(wilson(346, 385))


def test_no_verdicts_give_an_uninformative_estimate():
    assert weighted_accuracy([]) == Estimate(
        correct=0.0, low=0.0, high=1.0, reviewed=0, wrong=0, effective_n=0.0
    )


def test_it_rejects_a_zero_inclusion_probability():
    with pytest.raises(ValueError):
        weighted_accuracy([(True, 0.0)])


def test_oversampling_fraud_does_not_bias_the_estimate():
    rng = _rng(7)
    events, truth = [], {}
    for i in range(200_000):
        label = "fraud" if rng.random() < 0.02 else ""
        events.append((str(i), label))
        truth[str(i)] = rng.random() < (0.60 if label == "fraud" else 0.97)
    true_accuracy = sum(truth.values()) / len(truth)
    counts = {"fraud": sum(1 for _, label in events if label == "fraud")}
    counts[""] = len(events) - counts["fraud"]
    plan = Plan(per_day=400, oversample={"fraud": 10.0})
    probabilities = inclusion_probabilities(plan, counts, days=1)

    chosen = choose(events, probabilities, probabilities[""], rng, plan.double_share)
    estimate = weighted_accuracy([(truth[event_id], p) for event_id, p, _ in chosen])
    naive = sum(truth[event_id] for event_id, _, _ in chosen) / len(chosen)

    assert estimate.low <= true_accuracy <= estimate.high
    assert estimate.correct == pytest.approx(true_accuracy, abs=0.02)
    # Fraud is a sixth of the sample instead of 2% of traffic, which drags the naive share
    # well below the truth: even its own interval misses it.
    assert wilson(naive * len(chosen), len(chosen))[1] < true_accuracy


def test_kappa_matches_a_known_table():
    # yes/yes 20, yes/no 5, no/yes 10, no/no 15: observed 35/50 = 0.7; first says yes 25/50,
    # second 30/50, so expected 0.5*0.6 + 0.5*0.4 = 0.5; kappa = (0.7 - 0.5) / (1 - 0.5) = 0.4
    pairs = [("yes", "yes")] * 20 + [("yes", "no")] * 5 + [("no", "yes")] * 10
    pairs += [("no", "no")] * 15
    assert cohen_kappa(pairs) == pytest.approx(0.4)


def test_kappa_of_perfect_agreement_is_one():
    pairs = [("correct", "correct")] * 8 + [("incorrect", "incorrect")] * 3
    assert cohen_kappa(pairs) == pytest.approx(1.0)


def test_kappa_is_undefined_without_enough_pairs_or_variety():
    assert cohen_kappa([("correct", "correct")]) is None
    assert cohen_kappa([("correct", "correct")] * 5) is None


def test_a_collapse_in_accuracy_is_a_drop():
    assert accuracy_dropped(_share(0.96, 2000), _share(0.70, 40))


def test_a_small_dip_is_not_a_drop():
    assert not accuracy_dropped(_share(0.96, 2000), _share(0.94, 40))


def test_too_few_reviews_are_never_a_drop():
    assert not accuracy_dropped(_share(0.96, 2000), _share(0.0, 10))
