"""The mixture detector of rate monitors: its false-alarm rate under no change against the
bound it is set by, its delay against a CUSUM told the exact shift, the onset, and its state
through JSON. Fixed seeds; no database."""

import json
import math

import numpy as np
import pytest

from monitoring.detectors.chain import arl, calibrate
from monitoring.detectors.mixture import (
    MixtureDetector,
    expected_delay,
    mixture_for,
    mixture_start,
    mixture_statistic,
    mixture_update,
)


def alarms(detector, p, buckets, bucket, rng) -> int:
    """False alarms over `buckets` buckets of `bucket` events at rate p, restarting after each."""
    state, count = mixture_start(detector), 0
    for x in rng.binomial(bucket, p, size=buckets).tolist():
        state, fired = mixture_update(detector, state, x, bucket, 0.0)
        if fired is not None:
            count += 1
            state = mixture_start(detector)
    return count


def run_length(detector, p, rng, limit=100_000) -> tuple[int, int]:
    """Events from a fresh statistic to the alarm at rate p, fed one by one, and the shift."""
    state = mixture_start(detector)
    for i, x in enumerate((rng.random(limit) < p).tolist(), start=1):
        state, fired = mixture_update(detector, state, int(x), 1, float(i))
        if fired is not None:
            return i, fired
    raise AssertionError("no alarm")


@pytest.mark.parametrize(("bucket", "budget", "buckets"), [(1, 1e-3, 200_000), (20, 1e-4, 100_000)])
def test_false_alarms_stay_within_the_budget(bucket, budget, buckets):
    detector = mixture_for(0.02, budget)
    expected = budget * bucket * buckets  # the bound: at most this many, on average

    count = alarms(detector, 0.02, buckets, bucket, np.random.default_rng(7))

    # Poisson counts: within three standard deviations of the budget, and the bound is not
    # so loose that the budget goes unspent.
    assert count <= expected + 3 * math.sqrt(expected)
    assert count >= 0.3 * expected


@pytest.mark.parametrize("after", [0.09, 0.05])
def test_a_rise_is_detected_within_a_fifth_of_a_cusum_told_the_shift(after):
    detector = mixture_for(0.02, 1e-6)
    exact = calibrate("up", 0.02, after, 1e6)  # the CUSUM told the shift, the whole budget
    rng = np.random.default_rng(11)

    runs = [run_length(detector, after, rng) for _ in range(150)]
    delays = np.array([length for length, _ in runs])

    se = delays.std(ddof=1) / math.sqrt(len(delays))
    assert delays.mean() - 2 * se <= 1.2 * arl(exact, after)
    assert all(detector.shifts[shift].direction == "up" for _, shift in runs)


def test_a_vanished_class_is_detected_within_a_fifth_of_a_run_of_misses_told_the_shift():
    detector = mixture_for(0.02, 1e-6)
    # Told the class vanished, a CUSUM alarms after L misses in a row, L the shortest run whose
    # mean waiting time at 2% is at least 10^6 events.
    q = 0.98
    misses = next(n for n in range(1, 5_000) if (1 - q**n) / ((1 - q) * q**n) >= 1e6)

    length, shift = run_length(detector, 0.0, np.random.default_rng(3))

    assert length <= 1.2 * misses
    assert detector.shifts[shift].direction == "down"


def test_expected_delay_is_near_the_simulated_delay():
    detector = mixture_for(0.02, 1e-6)
    rng = np.random.default_rng(5)
    for after in (0.09, 0.05, 0.0):
        simulated = np.mean([run_length(detector, after, rng)[0] for _ in range(60)])
        assert 0.8 * simulated <= expected_delay(detector, after) <= 1.2 * simulated
    assert math.isinf(expected_delay(detector, 0.02))  # no shift drifts up without a change


def test_the_onset_is_near_the_true_change_point():
    detector = mixture_for(0.02, 1e-6)
    rng = np.random.default_rng(2)
    errors = []
    for _ in range(10):
        change = int(rng.integers(2_000, 4_000))
        state = mixture_start(detector)
        for second in range(100_000):
            p = 0.09 if second * 10 >= change else 0.02
            state, fired = mixture_update(detector, state, int(rng.binomial(10, p)), 10, second)
            if fired is not None:
                errors.append(abs(state[fired]["zero_at"] * 10 - change))
                break
    assert np.median(errors) <= 60  # events; the CUSUM's onset in the bank's test: 40


def test_state_round_trips_through_json_and_the_run_carries_on_alike():
    detector = mixture_for(0.02, 1e-6)
    rng = np.random.default_rng(4)
    state = mixture_start(detector)
    for x in rng.binomial(20, 0.03, size=300).tolist():
        state, _ = mixture_update(detector, state, x, 20, 1.0)

    stored = json.loads(json.dumps(state, allow_nan=False))
    again = MixtureDetector.from_json(json.loads(json.dumps(detector.to_json())))

    assert again == detector
    assert json.loads(json.dumps(mixture_start(detector), allow_nan=False))  # no infinities
    ahead = rng.binomial(20, 0.06, size=200).tolist()
    a, b = state, stored
    for x in ahead:
        a, fired_a = mixture_update(detector, a, x, 20, 2.0)
        b, fired_b = mixture_update(again, b, x, 20, 2.0)
        assert fired_a == fired_b
    assert mixture_statistic(detector, a) == mixture_statistic(again, b)


@pytest.mark.parametrize("p0", [0.0, 1e-5, 0.5, 1.0])
def test_mixture_for_handles_rates_near_zero_and_one(p0):
    detector = mixture_for(p0, 1e-6)

    assert math.isclose(sum(s.weight for s in detector.shifts), 1.0)
    assert all(0 < s.p1 < 1 for s in detector.shifts)
    directions = {s.direction for s in detector.shifts}
    if p0 <= 1e-4:
        assert directions == {"up"}
    elif p0 >= 1 - 1e-4:
        assert directions == {"down"}
    else:
        assert directions == {"up", "down"}


@pytest.mark.parametrize("budget", [1e-6, 1e-8])
def test_the_threshold_is_the_bound_for_the_budget_past_the_head_start(budget):
    detector = mixture_for(0.02, budget)
    head = sum(s.weight * detector.head_start(i) for i, s in enumerate(detector.shifts))

    assert detector.threshold == pytest.approx(math.log(1 / budget + head))
    assert mixture_statistic(detector, mixture_start(detector)) == pytest.approx(math.log(head))


def test_an_empty_bucket_leaves_the_statistic_as_it_was():
    detector = mixture_for(0.02, 1e-6)
    state, _ = mixture_update(detector, mixture_start(detector), 3, 20, 1.0)

    assert mixture_update(detector, state, 0, 0, 2.0) == (state, None)
