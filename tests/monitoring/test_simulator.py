"""The traffic simulator: steady streams as described, each scenario's shift confined to its
new version, and every event valid for the events API."""

import math
import re
import statistics
from collections import Counter
from datetime import UTC, datetime
from itertools import pairwise

import pytest

from monitoring.scenarios import SCENARIOS, Scenario
from monitoring.simulator import (
    ACTION_CATALOG,
    CLOSINGS,
    MAX_OUTPUT_TOKENS,
    REFUSAL_TEXT,
    SUBJECTS,
    Simulator,
    next_ref,
)

START = 1_750_000_000.0  # epoch seconds
SHIFT = START + 1000.0
REFUND_VERSIONS = {"model": "3", "prompt": "13", "config": "2"}
REPLY_VERSIONS = {"model": "provider-model-2025-01-15", "prompt": "13", "retrieval": "7"}


def refunds(scenario="none", shift_at=None, seed=1):
    return Simulator(
        "refund-classifier",
        seed=seed,
        versions=REFUND_VERSIONS,
        scenario=scenario,
        shift_at=shift_at,
    )


def replies(scenario="none", shift_at=None, seed=1):
    return Simulator(
        "support-reply", seed=seed, versions=REPLY_VERSIONS, scenario=scenario, shift_at=shift_at
    )


def share(events, predicate):
    return sum(1 for e in events if predicate(e)) / len(events)


def within(observed, p, n, sigmas=4):
    """`observed` is a share of `n` draws with probability `p`, to `sigmas` standard errors."""
    return abs(observed - p) <= sigmas * math.sqrt(p * (1 - p) / n)


def is_fraud(event):
    return event["output"]["label"] == "fraud"


def is_refused(event):
    return event["refused"]


def split(events, at):
    """The events before `at` (epoch seconds), and the others. All timestamps are UTC in
    one format, so they compare as strings."""
    cut = datetime.fromtimestamp(at, UTC).isoformat(timespec="microseconds")
    before = [e for e in events if e["ts"] < cut]
    return before, events[len(before) :]


# The events API's contract (docs/INTERFACE.md, "Events"), checked here on its own.

RFC3339 = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)")
SURFACES = {"model", "prompt", "retrieval", "config"}
FIELDS = {"id", "ts", "input", "output", "refused", "versions", "actions", "subject"}
GENERATION_FIELDS = {"scores", "error", "finish_reason", "usage", "provider"}


def contract_errors(event):
    errors = []
    if set(event) - FIELDS - GENERATION_FIELDS:
        errors.append(f"unknown fields {set(event) - FIELDS - GENERATION_FIELDS}")
    if not isinstance(event.get("id"), str) or not 0 < len(event["id"]) <= 100:
        errors.append("id")
    if not isinstance(event.get("ts"), str) or not RFC3339.fullmatch(event["ts"]):
        errors.append("ts")
    if not isinstance(event.get("input", {}), dict):
        errors.append("input")
    output = event.get("output", {})
    if not isinstance(output, dict) or set(output) - {"label", "score", "text"}:
        errors.append("output")
    else:
        if not isinstance(output.get("label", ""), str):
            errors.append("output.label")
        score = output.get("score", 0.0)
        if isinstance(score, bool) or not isinstance(score, int | float) or math.isnan(score):
            errors.append("output.score")
        if not isinstance(output.get("text", ""), str):
            errors.append("output.text")
    if not isinstance(event.get("refused", False), bool):
        errors.append("refused")
    versions = event.get("versions", {})
    if not isinstance(versions, dict) or set(versions) - SURFACES:
        errors.append("versions")
    elif not all(isinstance(ref, str) and ref for ref in versions.values()):
        errors.append("versions.ref")
    actions = event.get("actions", [])
    if not isinstance(actions, list) or not all(
        isinstance(a, dict)
        and set(a) == {"type", "subject"}
        and all(isinstance(v, str) for v in a.values())
        for a in actions
    ):
        errors.append("actions")
    if not isinstance(event.get("subject", ""), str):
        errors.append("subject")
    scores = event.get("scores", {})
    if not isinstance(scores, dict) or not all(
        re.fullmatch(r"[A-Za-z0-9_.:-]{1,64}", name)
        and isinstance(value, float)
        and math.isfinite(value)
        for name, value in scores.items()
    ):
        errors.append("scores")
    usage = event.get("usage", {})
    if not isinstance(usage, dict) or not all(
        field in ("input_tokens", "output_tokens") and isinstance(n, int) and n >= 0
        for field, n in usage.items()
    ):
        errors.append("usage")
    for field, limit in (("error", 100), ("finish_reason", 40), ("provider", 64)):
        if not isinstance(event.get(field, ""), str) or len(event.get(field, "")) > limit:
            errors.append(field)
    return errors


def unfaithful(event):
    return event["scores"]["faithfulness"] < 0.5


def scored(events):
    return [e for e in events if "scores" in e]


# Steady traffic.


def test_the_steady_refund_stream_routes_about_two_percent_to_fraud():
    events = refunds().events(START, 50_000, rate=10)

    labels = Counter(e["output"]["label"] for e in events)
    assert within(labels["fraud"] / 50_000, 0.02, 50_000)
    assert within(labels["review"] / 50_000, 0.08, 50_000)
    assert within(labels["approve"] / 50_000, 0.90, 50_000)
    assert {e["versions"]["model"] for e in events} == {"3"}


def test_refund_events_look_like_refund_claims():
    events = refunds().events(START, 20_000, rate=10)

    for event in events:
        label, score = event["output"]["label"], event["output"]["score"]
        assert 0 < score < 1
        assert event["output"]["text"]
        if label == "fraud":
            assert score >= 0.75
            assert event["actions"] == [{"type": "account_hold", "subject": event["subject"]}]
        elif label == "approve":
            assert score < 0.35
            assert event["actions"] == [{"type": "refund_issue", "subject": event["subject"]}]
        else:
            assert event["actions"] == []
        assert {a["type"] for a in event["actions"]} <= set(ACTION_CATALOG["refund-classifier"])
    amounts = [e["input"]["amount"] for e in events]
    assert 20 < statistics.median(amounts) < 80
    assert min(amounts) > 0
    countries = Counter(e["input"]["country"] for e in events)
    assert countries.most_common(1)[0][0] == "US"
    assert len(countries) == 8
    subjects = {e["subject"] for e in events}
    assert 0.9 * SUBJECTS < len(subjects) <= SUBJECTS


def test_support_replies_vary_in_length_and_refuse_about_three_percent():
    events = replies().events(START, 50_000, rate=10)

    assert within(share(events, is_refused), 0.03, 50_000)
    labels = Counter(e["output"]["label"] for e in events)
    assert set(labels) == {"answered", "refused", "escalated", ""}  # "": the call failed
    answers = [e for e in events if e["output"]["label"] == "answered"]
    lengths = [len(e["output"]["text"]) for e in answers]
    assert min(lengths) >= 150 and max(lengths) <= 900
    assert 350 < statistics.mean(lengths) < 600
    assert statistics.pstdev(lengths) > 80
    assert len({e["output"]["text"] for e in answers}) > 0.99 * len(answers)
    for event in events:
        if event["refused"]:
            assert event["output"] == {**event["output"], "label": "refused", "text": REFUSAL_TEXT}
            assert event["actions"] == []
        elif event["output"]["label"] == "answered":
            assert event["actions"] == [{"type": "send_reply", "subject": event["subject"]}]
    assert ACTION_CATALOG["support-reply"]["send_reply"] == {
        "reversible": False,
        "user_visible": True,
    }


def test_support_replies_report_their_call_a_few_cut_off_at_the_token_limit():
    events = replies().events(START, 50_000, rate=10)

    assert {e["provider"] for e in events} == {"openai"}
    failed = [e for e in events if "error" in e]
    assert within(len(failed) / 50_000, 0.005, 50_000)
    assert {e["error"] for e in failed} == {"timeout", "rate_limit"}
    for event in failed:  # no answer, so nothing sent and no output tokens
        assert event["output"] == {"label": "", "text": ""}
        assert event["actions"] == [] and not event["refused"]
        assert set(event["usage"]) == {"input_tokens"} and "finish_reason" not in event
    done = [e for e in events if "error" not in e]
    finishes = Counter(e["finish_reason"] for e in done)
    assert set(finishes) == {"stop", "length"}
    assert 0.01 < finishes["length"] / len(done) < 0.04
    for event in done:
        tokens = event["usage"]["output_tokens"]
        assert 0 < tokens <= MAX_OUTPUT_TOKENS
        if event["finish_reason"] == "length":
            assert tokens == MAX_OUTPUT_TOKENS
        # About four characters a token, as the text says.
        assert 3.4 < len(event["output"]["text"]) / tokens < 4.6 or tokens < 10
    cut = [e for e in done if e["finish_reason"] == "length"]
    assert all(not e["output"]["text"].endswith(tuple(CLOSINGS)) for e in cut)
    inputs = [e["usage"]["input_tokens"] for e in events]
    assert 400 < statistics.median(inputs) < 700 and min(inputs) > 220


def test_answers_are_scored_for_faithfulness_around_0_85_and_4_percent_below_half():
    events = replies().events(START, 50_000, rate=10)

    answers = scored(events)
    assert {e["output"]["label"] for e in answers} == {"answered"}
    # Refusals and hand-overs have nothing grounded to score.
    assert len(answers) == sum(e["output"]["label"] == "answered" for e in events)
    values = [e["scores"]["faithfulness"] for e in answers]
    assert 0.8 < statistics.mean(values) < 0.86
    assert 0.84 < statistics.median(values) < 0.9
    assert within(share(answers, unfaithful), 0.04, len(answers))
    assert min(values) >= 0 and max(values) <= 1


def test_the_refund_classifier_reports_no_generative_fields():
    events = refunds().events(START, 2000, rate=10)

    assert not any(GENERATION_FIELDS & set(e) for e in events)


# Scenarios.


def test_a_fraud_spike_moves_the_share_to_nine_percent_on_the_new_model():
    events = refunds("fraud-spike", shift_at=SHIFT).events(START, 60_000, rate=10)

    before, after = split(events, SHIFT)
    assert len(before) == 10_000
    assert within(share(before, is_fraud), 0.02, len(before))
    assert within(share(after, is_fraud), 0.09, len(after))
    assert {e["versions"]["model"] for e in before} == {"3"}
    assert {e["versions"]["model"] for e in after} == {"4"}
    assert {e["versions"]["prompt"] for e in after} == {"13"}  # only the model changed


def test_a_fraud_ramp_rolls_the_new_model_out_over_an_hour():
    simulator = refunds("fraud-ramp", shift_at=SHIFT)
    events = simulator.events(START, 80_000, rate=10)  # the ramp's hour, then most of another

    _, after = split(events, SHIFT)
    first_ten_minutes, rest = after[:6000], after[6000:]
    on_new = share(first_ten_minutes, lambda e: e["versions"]["model"] == "4")
    assert 0.03 < on_new < 0.15  # about 1/12 on average over the first 10 minutes
    _, last_hour = split(events, SHIFT + 3600)
    assert {e["versions"]["model"] for e in last_hour} == {"4"}
    assert within(share(last_hour, is_fraud), 0.09, len(last_hour))
    new = [e for e in rest if e["versions"]["model"] == "4"]
    old = [e for e in rest if e["versions"]["model"] == "3"]
    assert within(share(new, is_fraud), 0.09, len(new))
    assert within(share(old, is_fraud), 0.02, len(old))


def test_fraud_vanishes_on_the_new_model():
    events = refunds("fraud-vanishes", shift_at=SHIFT).events(START, 30_000, rate=10)

    before, after = split(events, SHIFT)
    assert share(before, is_fraud) > 0.01
    assert share(after, is_fraud) == 0
    assert not any(a["type"] == "account_hold" for e in after for a in e["actions"])


def test_a_refusal_surge_doubles_refusals_on_the_new_prompt():
    events = replies("refusal-surge", shift_at=SHIFT).events(START, 60_000, rate=10)

    before, after = split(events, SHIFT)
    assert within(share(after, is_refused), 0.06, len(after))
    assert 1.7 < share(after, is_refused) / share(before, is_refused) < 2.3
    assert {e["versions"]["prompt"] for e in after} == {"14"}
    assert {e["versions"]["prompt"] for e in before} == {"13"}


def test_short_answers_come_from_the_new_retrieval_version():
    events = replies("short-answers", shift_at=SHIFT).events(START, 30_000, rate=10)

    def mean_answer(events):
        return statistics.mean(
            len(e["output"]["text"]) for e in events if e["output"]["label"] == "answered"
        )

    before, after = split(events, SHIFT)
    assert mean_answer(after) < 0.6 * mean_answer(before)
    assert {e["versions"]["retrieval"] for e in after} == {"8"}
    assert within(share(after, is_refused), 0.03, len(after))  # nothing else moved


def test_faithfulness_drifts_to_a_quarter_below_half_as_the_new_prompt_rolls_out():
    simulator = replies("faithfulness-drift", shift_at=SHIFT)
    events = simulator.events(START, 40_000, rate=10)  # the 20-minute ramp, then more

    before, after = split(events, SHIFT)
    assert within(share(scored(before), unfaithful), 0.04, len(scored(before)))
    assert {e["versions"]["prompt"] for e in before} == {"13"}
    first, second = split(after, SHIFT + 600)
    during, ramped = split(second, SHIFT + 1200)
    shares = [share(scored(part), unfaithful) for part in (before, first, during, ramped)]
    assert shares == sorted(shares)  # it climbs as the rollout does
    assert 0.06 < shares[1] < 0.15 and 0.15 < shares[2] < 0.25
    assert {e["versions"]["prompt"] for e in ramped} == {"14"}
    assert within(shares[3], 0.25, len(scored(ramped)), sigmas=4.5)
    # Confined to the new prompt: the old one is still 4% while both serve.
    old = scored([e for e in first + during if e["versions"]["prompt"] == "13"])
    new = scored([e for e in first + during if e["versions"]["prompt"] == "14"])
    assert within(share(old, unfaithful), 0.04, len(old))
    assert within(share(new, unfaithful), 0.25, len(new))
    assert within(share(ramped, is_refused), 0.03, len(ramped))  # nothing else moved


def test_input_drift_raises_amounts_and_changes_the_country_mix_without_a_new_version():
    events = refunds("input-drift", shift_at=SHIFT).events(START, 60_000, rate=10)

    before, after = split(events, SHIFT)
    _, drifted = split(events, SHIFT + 3600)
    median_before = statistics.median(e["input"]["amount"] for e in before)
    assert statistics.median(e["input"]["amount"] for e in drifted) > 1.7 * median_before
    countries = Counter(e["input"]["country"] for e in drifted)
    assert {"BR", "IN", "MX"} <= set(countries)
    assert not {"BR", "IN", "MX"} & {e["input"]["country"] for e in before}
    assert countries["US"] / len(drifted) < 0.3
    assert {e["versions"]["model"] for e in after} == {"3"}
    assert within(share(drifted, is_fraud), 0.02, len(drifted))


def test_the_steady_scenario_never_shifts():
    events = refunds("none", shift_at=SHIFT).events(START, 20_000, rate=10)
    _, after = split(events, SHIFT)
    assert within(share(after, is_fraud), 0.02, len(after))
    assert {e["versions"]["model"] for e in after} == {"3"}


def test_every_named_scenario_is_described():
    assert {
        "none",
        "fraud-spike",
        "fraud-ramp",
        "fraud-vanishes",
        "refusal-surge",
        "short-answers",
        "faithfulness-drift",
        "input-drift",
    } <= set(SCENARIOS)
    for name, scenario in SCENARIOS.items():
        assert isinstance(scenario, Scenario)
        assert scenario.name == name and scenario.title and scenario.description


# The stream itself.


def test_ids_are_unique_across_calls_and_name_the_seed():
    simulator = refunds(seed=42)
    events = simulator.events(START, 5000, rate=100) + simulator.events(START + 50, 5000, rate=100)

    ids = [e["id"] for e in events]
    assert len(set(ids)) == 10_000
    assert ids[0] == "refund-classifier-42-0"
    assert ids[-1] == "refund-classifier-42-9999"


def test_timestamps_advance_at_the_rate_in_utc():
    events = replies().events(START, 1000, rate=25)

    times = [datetime.fromisoformat(e["ts"]) for e in events]
    assert all(t.utcoffset().total_seconds() == 0 for t in times)
    assert times[0].timestamp() == START
    gaps = {round((b - a).total_seconds(), 6) for a, b in pairwise(times)}
    assert gaps == {0.04}


def test_the_same_seed_gives_the_same_events_and_another_seed_others():
    assert refunds(seed=3).events(START, 500, 10) == refunds(seed=3).events(START, 500, 10)
    first = [e["output"] for e in refunds(seed=3).events(START, 500, 10)]
    assert first != [e["output"] for e in refunds(seed=4).events(START, 500, 10)]


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_every_event_meets_the_events_api_contract(scenario):
    kind = SCENARIOS[scenario].kind
    make = replies if kind == "support-reply" else refunds
    events = make(scenario, shift_at=START + 500).events(START, 5000, rate=5)
    if kind is None:
        events += replies(scenario, shift_at=START + 500).events(START, 5000, rate=5)

    assert [(e["id"], contract_errors(e)) for e in events if contract_errors(e)] == []


def test_a_scenario_for_the_other_kind_of_system_is_refused():
    with pytest.raises(ValueError, match="happens to a support-reply"):
        refunds("refusal-surge")
    with pytest.raises(ValueError, match="unknown scenario"):
        refunds("meteor")
    with pytest.raises(ValueError, match="kind"):
        Simulator("ranker", seed=1, versions={})


def test_the_new_version_follows_the_served_one():
    assert next_ref("3") == "4"
    assert next_ref("v13") == "v14"
    assert next_ref("provider-model-2025-01-09") == "provider-model-2025-01-10"
    assert next_ref("latest") == "latest-next"
    assert next_ref(None) == "1"
    pinned = Simulator(
        "refund-classifier",
        seed=1,
        versions=REFUND_VERSIONS,
        scenario="fraud-spike",
        shift_at=START,
        shifted_version="provider-model-b",
    )
    assert pinned.shifted_versions == {**REFUND_VERSIONS, "model": "provider-model-b"}
    assert {e["versions"]["model"] for e in pinned.events(START, 100, 10)} == {"provider-model-b"}
