"""Review sampling: stratified inclusion probabilities and the draw over a simulated day.

Pure functions: no database.
"""

import math
import random

import pytest

from groundtruth.sampling import (
    Plan,
    base_probability,
    choose,
    incident_probability,
    inclusion_probabilities,
)

FRAUD = Plan(per_day=2000, oversample={"fraud": 10.0})


def _rng(seed: int) -> random.Random:
    return random.Random(seed)


def _within(observed: float, expected: float, variance: float, sigmas: float = 4) -> bool:
    return abs(observed - expected) <= sigmas * math.sqrt(variance)


def test_it_scales_the_base_so_the_daily_total_is_the_target():
    plan = Plan(per_day=100, oversample={"fraud": 10.0})
    probabilities = inclusion_probabilities(plan, {"": 9000, "fraud": 1000}, days=2)
    # Per day 4500 unlabelled and 500 fraud: 4500 b + 500 * 10 b = 100 -> b = 100 / 9500
    base = 100 / 9500
    assert probabilities == pytest.approx({"": base, "fraud": 10 * base})
    assert 4500 * probabilities[""] + 500 * probabilities["fraud"] == pytest.approx(100)


def test_it_does_not_redistribute_a_capped_excess():
    plan = Plan(per_day=100, oversample={"fraud": 1000.0})
    probabilities = inclusion_probabilities(plan, {"": 9950, "fraud": 50}, days=1)
    # 9950 b + 50 * 1000 b = 100 -> b = 100 / 59950; fraud would be 1.67, is capped at 1, and
    # the rest is not raised to make up for it: 9950 b + 50 = 66.6 expected, not 100.
    assert probabilities[""] == pytest.approx(100 / 59950)
    assert probabilities["fraud"] == 1.0
    assert 9950 * probabilities[""] + 50 == pytest.approx(66.6, abs=0.1)


def test_an_oversampled_label_not_seen_yet_gets_its_factor():
    probabilities = inclusion_probabilities(FRAUD, {"": 100_000}, days=1)
    assert probabilities["fraud"] == pytest.approx(10 * probabilities[""])


def test_it_takes_everything_when_traffic_is_below_the_target():
    assert base_probability(FRAUD, {"": 500}, days=1) == 1.0
    assert base_probability(FRAUD, {}, days=1) == 1.0


def test_it_rejects_a_zero_factor():
    with pytest.raises(ValueError):
        base_probability(Plan(per_day=10, oversample={"spam": 0.0}), {"": 100}, days=1)


def test_an_unknown_label_is_sampled_at_the_base():
    chosen = choose([("a", "new"), ("b", "")], {"": 0.0}, 1.0, _rng(1), 0.0)
    assert chosen == [("a", 1.0, False)]


def test_the_sampling_rate_and_stratification_hold_over_a_day():
    rng = _rng(11)
    events = [(str(i), "fraud" if rng.random() < 0.02 else "") for i in range(200_000)]
    counts = {"fraud": sum(1 for _, label in events if label == "fraud")}
    counts[""] = len(events) - counts["fraud"]
    probabilities = inclusion_probabilities(FRAUD, counts, days=1)
    base, fraud = probabilities[""], probabilities["fraud"]
    assert fraud == pytest.approx(10 * base)

    chosen = choose(events, probabilities, base, rng, FRAUD.double_share)

    ids = {event_id for event_id, _, _ in chosen}
    assert len(ids) == len(chosen)
    variance = counts[""] * base * (1 - base) + counts["fraud"] * fraud * (1 - fraud)
    assert _within(len(chosen), FRAUD.per_day, variance)
    labels = dict(events)
    fraud_chosen = sum(1 for event_id in ids if labels[event_id] == "fraud")
    assert _within(fraud_chosen, counts["fraud"] * fraud, counts["fraud"] * fraud * (1 - fraud))
    fraud_rate = fraud_chosen / counts["fraud"]
    other_rate = (len(chosen) - fraud_chosen) / counts[""]
    assert fraud_rate / other_rate == pytest.approx(10, rel=0.2)
    assert all(p == (fraud if labels[event_id] == "fraud" else base) for event_id, p, _ in chosen)
    doubles = sum(1 for _, _, double in chosen if double)
    n = len(chosen)
    assert _within(doubles, n * 0.05, n * 0.05 * 0.95)


def test_the_same_seed_chooses_the_same_events():
    events = [(str(i), "") for i in range(1000)]
    first = choose(events, {"": 0.1}, 0.1, _rng(3), 0.05)
    assert first == choose(events, {"": 0.1}, 0.1, _rng(3), 0.05)


def test_an_incident_window_is_sampled_for_about_forty_reviews():
    assert incident_probability(4000) == pytest.approx(0.01)
    assert incident_probability(400, wanted=100) == pytest.approx(0.25)


def test_a_small_incident_window_is_reviewed_whole():
    assert incident_probability(30) == 1.0
    assert incident_probability(0) == 1.0
