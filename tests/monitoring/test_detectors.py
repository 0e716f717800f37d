"""The detection math: CUSUM calibration and run lengths checked against simulation and a
dense linear solve, the bank on shifted and unshifted streams, and the distribution tests
against hand-computed and textbook values. No database."""

import json
import math

import numpy as np
import pytest

from monitoring.detectors import chain
from monitoring.detectors.chain import CusumDesign, arl
from monitoring.detectors.cusum import (
    DetectorBank,
    band,
    bank_for,
    bank_start,
    bank_update,
    expected_delay,
    false_alarms_per_event,
)
from monitoring.detectors.shapes import (
    chi2_sf,
    chi_square,
    js_divergence,
    ks_binned,
    psi,
    shape_shift,
)


def run_lengths(bank: DetectorBank, p: float, runs: int, rng, chunk: int = 4_000) -> np.ndarray:
    """Events until the bank's first alarm, from zero, for `runs` independent streams at rate
    p. Vectorised: within a chunk the CUSUM is s0 + S_t - min(0, s0 + min_{k<=t} S_k)."""
    a = np.array([math.log(d.p1 / d.p0) for d in bank.designs])[:, None, None]
    b = np.array([math.log((1 - d.p1) / (1 - d.p0)) for d in bank.designs])[:, None, None]
    h = np.array([d.threshold for d in bank.designs])[:, None, None]
    s = np.zeros((len(bank.designs), runs))
    lengths = np.zeros(runs, dtype=int)
    active = np.arange(runs)
    elapsed = 0
    while active.size:
        x = rng.random((active.size, chunk)) < p
        cum = np.cumsum(np.where(x, a, b), axis=2)
        s0 = s[:, active, None]
        stat = s0 + cum - np.minimum(0.0, s0 + np.minimum.accumulate(cum, axis=2))
        hit = (stat >= h).any(axis=0)
        fired = hit.any(axis=1)
        lengths[active[fired]] = elapsed + hit[fired].argmax(axis=1) + 1
        s[:, active[~fired]] = stat[:, ~fired, -1]
        active = active[~fired]
        elapsed += chunk
    return lengths


def single(design: CusumDesign) -> DetectorBank:
    return DetectorBank(p0=design.p0, false_alarms_per_event=0.0, designs=(design,))


def feed(bank, rates, rng, bucket=10):
    """Feed the bank 1-second buckets of `bucket` events, the i-th event at rate rates[i];
    return (second of the alarm, index of the design, state) or None when it stays quiet."""
    state = bank_start(bank)
    for second, start in enumerate(range(0, len(rates), bucket)):
        x = int((rng.random(bucket) < rates[start : start + bucket]).sum())
        state, fired = bank_update(bank, state, x, bucket, float(second))
        if fired is not None:
            return second, fired, state
    return None


# --- Calibration and run lengths ------------------------------------------------------------


def test_calibrated_threshold_gives_the_false_alarm_rate_it_was_set_for():
    bank = bank_for(0.02, 2e-4)  # the 2x design gets half the budget: ARL0 >= 10^4 events
    design = bank.designs[0]

    assert 1e4 <= arl(design, 0.02) < 1.1e4
    lengths = run_lengths(single(design), 0.02, 800, np.random.default_rng(1))
    # Run lengths are close to geometric: the standard error of the mean is about 3.5%.
    assert lengths.mean() == pytest.approx(arl(design, 0.02), rel=0.12)


def test_the_bank_raises_no_more_false_alarms_than_its_budget():
    bank = bank_for(0.02, 1e-3)
    lengths = run_lengths(bank, 0.02, 800, np.random.default_rng(2))

    rate = 1 / lengths.mean()
    assert rate <= 1e-3 * 1.12  # 3.5% standard error
    assert rate >= 1e-3 * 0.6  # and the budget is spent, not wasted


def test_run_length_out_of_control_matches_simulation():
    # p0 = 0.5% makes a long chain (H > 1000 units): the Riccati sweep's case.
    bank = bank_for(0.005, 1e-6)
    design = bank.designs[0]
    lengths = run_lengths(single(design), 0.0225, 600, np.random.default_rng(3))

    assert lengths.mean() == pytest.approx(arl(design, 0.0225), rel=0.05)


def dense_arl(t: int, w: int, pi: float, h: int) -> float:
    """Brook & Evans, written out: (I - Q) f = 1 over the states 0..H-1 of the lattice."""
    q = np.zeros((h, h))
    for i in range(h):
        if i + t < h:
            q[i, i + t] += pi
        q[i, max(0, i - w)] += 1 - pi
    return float(np.linalg.solve(np.eye(h) - q, np.ones(h))[0])


@pytest.mark.parametrize(
    ("p0", "p"),
    [
        (0.02, 0.02),  # in control, the recurrence
        (0.02, 0.05),  # out of control, a dense solve
        (0.02, 0.0),  # a vanished class
        (0.3, 0.3),  # moderate rates: two-unit steps on both sides
        (0.3, 0.5),
        (0.9, 0.9),
        (0.005, 0.0225),  # a long chain out of control: the Riccati sweep
    ],
)
def test_the_run_length_solvers_agree_with_a_dense_linear_solve(p0, p):
    for design in bank_for(p0, 1e-5).designs:
        t, w, pi, h = chain._chain(design, p)
        if pi == 0:  # never a step toward the threshold
            assert arl(design, p) == math.inf
            continue
        exact = dense_arl(t, w, pi, h)
        if exact > 1e10:  # both lose digits this far out; "never" is what matters
            assert arl(design, p) > 1e10
        else:
            assert arl(design, p) == pytest.approx(exact, rel=1e-6)


def test_the_alarm_falls_on_a_lattice_point_of_the_statistic():
    for design in bank_for(0.02, 1e-6).designs:
        unit, *_ = chain._steps(design)
        assert design.threshold / unit % 1 == pytest.approx(0.5)  # half way between two


def test_bank_designs_watch_both_directions_and_the_budget_adds_up():
    bank = bank_for(0.02, 1e-6)

    assert [d.direction for d in bank.designs] == ["up", "up", "down", "down"]
    assert [round(d.p1 / 0.02, 2) for d in bank.designs] == [1.96, 4.28, 0.5, 0.05]
    assert sum(1 / arl(d, 0.02) for d in bank.designs) <= 1e-6


@pytest.mark.parametrize("p0", [0.0, 1e-5, 0.0001, 0.5, 0.9999, 1.0])
def test_bank_for_handles_rates_near_zero_and_one(p0):
    bank = bank_for(p0, 1e-6)

    assert 1e-4 <= bank.p0 <= 1 - 1e-4
    assert all(0 < d.p1 < 1 and 0 < d.threshold < 50 for d in bank.designs)
    directions = {d.direction for d in bank.designs}
    if p0 <= 1e-4:
        assert directions == {"up"}  # a rate at zero cannot fall
    elif p0 >= 1 - 1e-4:
        assert directions == {"down"}
    else:
        assert directions == {"up", "down"}


def test_false_alarm_budget_comes_from_pages_per_month():
    # 10 events/s, 4 monitors, one false page a month.
    per_event = false_alarms_per_event(1, 864_000, 4)

    assert per_event == pytest.approx(1 / (30 * 864_000 * 4))
    with pytest.raises(ValueError):
        false_alarms_per_event(1, 0, 4)


def test_expected_delay_is_the_fastest_designs_run_length():
    bank = bank_for(0.02, 1e-6)

    assert expected_delay(bank, 0.09) == min(arl(d, 0.09) for d in bank.designs)
    assert 100 < expected_delay(bank, 0.09) < 220
    assert expected_delay(bank, 0.0) < 850
    assert expected_delay(bank, 0.02) > 1e6


def test_bank_round_trips_through_json():
    bank = bank_for(0.02, 1e-6)

    assert DetectorBank.from_json(json.loads(json.dumps(bank.to_json()))) == bank


# --- The bank on streams --------------------------------------------------------------------

CHANGE = 5_000  # events of the baseline before the shift


def shifted(after: float, length: int = 20_000) -> np.ndarray:
    return np.where(np.arange(length) < CHANGE, 0.02, after)


@pytest.mark.parametrize(("after", "within"), [(0.09, 400), (0.0, 900)])
def test_bank_fires_fast_after_a_shift(after, within):
    bank = bank_for(0.02, 1e-6)
    delays = []
    for seed in range(10):
        second, _, _ = feed(bank, shifted(after), np.random.default_rng(seed))
        delays.append((second + 1) * 10 - CHANGE)

    assert all(0 < d < within for d in delays)


def test_bank_stays_quiet_on_unshifted_data():
    bank = bank_for(0.02, 1e-6)

    assert feed(bank, np.full(100_000, 0.02), np.random.default_rng(4)) is None


def test_onset_estimate_is_near_the_true_change_point():
    bank = bank_for(0.02, 1e-6)
    errors = []
    for seed in range(10):
        _, fired, state = feed(bank, shifted(0.09), np.random.default_rng(seed))
        onset = (state[fired]["zero_at"] + 1) * 10  # the bucket after the statistic left 0
        errors.append(onset - CHANGE)

    assert np.median(np.abs(errors)) <= 60


def test_a_bucket_moves_the_statistic_by_the_sum_of_its_events():
    bank = bank_for(0.02, 1e-6)
    one_by_one = bank_start(bank)
    for x in [1, 0, 0, 1, 1, 0, 0, 0, 1, 0]:
        one_by_one, _ = bank_update(bank, one_by_one, x, 1, 0.0)
    bucketed, _ = bank_update(bank, bank_start(bank), 4, 10, 0.0)

    up = 0  # a rising design never touches zero on this sequence, so nothing is lost
    assert bucketed[up]["s"] == pytest.approx(one_by_one[up]["s"])
    assert bucketed[up]["zero_at"] is None


def test_zero_at_is_the_last_time_the_statistic_was_zero():
    bank = bank_for(0.02, 1e-6)
    state = bank_start(bank)
    state, _ = bank_update(bank, state, 0, 10, 100.0)  # quiet: the rising designs stay at 0
    state, _ = bank_update(bank, state, 3, 10, 101.0)  # then a burst lifts them

    assert state[0]["zero_at"] == 100.0
    assert state[0]["s"] > 0


def test_band_is_the_baseline_share_give_or_take_three_standard_errors():
    low, high = band(0.02, 10_000)

    assert low == pytest.approx(0.02 - 3 * 0.0014)
    assert high == pytest.approx(0.02 + 3 * 0.0014)
    assert band(0.02, 10) == (0.0, pytest.approx(0.02 + 3 * math.sqrt(0.02 * 0.98 / 10)))
    assert band(0.5, 0) == (0.0, 1.0)


# --- Distribution tests ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("x", "dof", "p"),
    [(3.841, 1, 0.05), (11.345, 3, 0.01), (124.342, 100, 0.05), (0.455, 1, 0.5), (0.0, 4, 1.0)],
)
def test_chi_square_survival_matches_the_tables(x, dof, p):
    assert chi2_sf(x, dof) == pytest.approx(p, abs=2e-4)


def test_chi_square_of_a_two_by_two_table():
    statistic, dof, p = chi_square({"a": 50, "b": 50}, {"a": 30, "b": 70})

    # Fitted counts 40/60 in both rows: 2 x (10^2/40 + 10^2/60).
    assert statistic == pytest.approx(25 / 3)
    assert dof == 1
    assert p == pytest.approx(0.003892, abs=1e-5)


def test_psi_of_a_hand_computed_shift():
    value = psi({"a": 50, "b": 50}, {"a": 30, "b": 70})

    assert value == pytest.approx(0.2 * math.log(0.5 / 0.3) + 0.2 * math.log(0.7 / 0.5))
    assert psi({"a": 1, "b": 1}, {"a": 5, "b": 5}) == 0.0
    assert math.isfinite(psi({"a": 10}, {"b": 10}))  # empty bins do not make it infinite


def test_js_divergence_in_bits():
    assert js_divergence({"a": 1, "b": 1}, {"a": 3, "b": 3}) == 0.0
    assert js_divergence({"a": 5}, {"b": 5}) == 1.0
    # P = (1, 0), Q = (1/2, 1/2), M = (3/4, 1/4).
    expected = 0.5 * math.log2(4 / 3) + 0.25 * (math.log2(2 / 3) + 1)
    assert js_divergence({"a": 2, "b": 0}, {"a": 1, "b": 1}) == pytest.approx(expected)


def test_ks_on_binned_data():
    statistic, p = ks_binned({"1": 50, "2": 50}, {"1": 20, "2": 80}, ["1", "2"])
    assert statistic == pytest.approx(0.3)
    assert p < 0.001

    # With large samples the p-value is Kolmogorov's: 1.358 is its 5% point.
    k = round(1.358 / 1000.12 * 2_000_000)
    _, p = ks_binned({"lo": 10**6, "hi": 10**6}, {"lo": 10**6 - k, "hi": 10**6 + k}, ["lo", "hi"])
    assert p == pytest.approx(0.05, abs=1e-3)


def sample(rng, shares: dict[str, float], n: int) -> dict[str, int]:
    counts = rng.multinomial(n, list(shares.values()))
    return dict(zip(shares, counts.tolist(), strict=True))


def test_shape_shift_fires_on_a_moved_category_mix_and_not_on_the_same_mix():
    rng = np.random.default_rng(5)
    baseline = sample(rng, {"approve": 0.6, "review": 0.3, "fraud": 0.1}, 50_000)

    moved = shape_shift(
        "categorical", baseline, sample(rng, {"approve": 0.35, "review": 0.35, "fraud": 0.3}, 1_000)
    )
    same = shape_shift(
        "categorical", baseline, sample(rng, {"approve": 0.6, "review": 0.3, "fraud": 0.1}, 1_000)
    )

    assert moved.fired and moved.test == "chi-square + PSI" and moved.p_value < 1e-6
    assert not same.fired and same.statistic < 0.1


def test_shape_shift_fires_on_shorter_answers():
    rng = np.random.default_rng(6)
    bins = ["0-100", "100-200", "200-400", "400+"]
    baseline = sample(rng, dict(zip(bins, [0.1, 0.3, 0.4, 0.2], strict=True)), 50_000)
    shorter = sample(rng, dict(zip(bins, [0.4, 0.35, 0.2, 0.05], strict=True)), 500)

    verdict = shape_shift("numeric", baseline, shorter, order=bins)

    assert verdict.fired and verdict.test == "KS + PSI"
    assert not shape_shift(
        "numeric",
        baseline,
        sample(rng, dict(zip(bins, [0.1, 0.3, 0.4, 0.2], strict=True)), 500),
        order=bins,
    ).fired


def test_a_tiny_shift_on_huge_traffic_is_significant_but_does_not_fire():
    baseline = {"yes": 5_000_000, "no": 5_000_000}
    current = {"yes": 510_000, "no": 490_000}

    verdict = shape_shift("categorical", baseline, current)

    assert verdict.p_value < 1e-6
    assert verdict.statistic < 0.2
    assert not verdict.fired


def test_shape_shift_waits_for_enough_events():
    verdict = shape_shift("categorical", {"a": 100, "b": 100}, {"a": 37})

    assert not verdict.fired
    assert "waiting for 200 events" in verdict.detail
