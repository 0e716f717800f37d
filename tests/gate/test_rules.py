"""The gate's rules as plain functions: no database, no HTTP."""

from gate.rules import (
    ALLOW,
    DENY,
    HOLD,
    Rule,
    Situation,
    baseline_per_window,
    breaker_resets,
    decide,
    decided_before_counting,
    limit,
    room,
    window_start,
)

IRREVERSIBLE = Rule(reversible=False)


def calm(**changes):
    values = {
        "mode": "ai",
        "severe_incident": None,
        "requests": 1,
        "allowed": 0,
        "baseline": 2.0,
        "tripped": False,
    }
    return Situation(**{**values, **changes})


def test_it_allows_within_the_rules():
    assert decide(IRREVERSIBLE, calm(), "account_hold").decision == ALLOW


def test_it_holds_everything_outside_ai_mode():
    for mode in ("degraded", "human", "off"):
        answer = decide(IRREVERSIBLE, calm(mode=mode), "account_hold")
        assert (answer.decision, answer.cause) == (HOLD, "mode")
        assert mode in answer.reason


def test_it_holds_everything_while_a_severe_incident_is_open():
    answer = decide(IRREVERSIBLE, calm(severe_incident=7), "account_hold")
    assert (answer.decision, answer.cause) == (HOLD, "incident")
    assert "INC-7" in answer.reason


def test_the_limit_is_k_times_the_baseline_never_below_the_floor():
    assert limit(Rule(reversible=False, breaker_factor=5, breaker_floor=20), 10.0) == 50
    assert limit(Rule(reversible=False, breaker_factor=5, breaker_floor=20), 1.2) == 20
    assert limit(Rule(reversible=False, breaker_factor=5, breaker_floor=20), None) == 20
    assert limit(Rule(reversible=False, breaker_factor=None), 10.0) is None


def test_the_breaker_trips_on_the_first_request_over_the_limit():
    rule = Rule(reversible=False, breaker_factor=5, breaker_floor=3)
    assert decide(rule, calm(requests=10, baseline=2.0), "a").decision == ALLOW
    answer = decide(rule, calm(requests=11, baseline=2.0), "a")
    assert (answer.decision, answer.cause, answer.trips) == (HOLD, "breaker", True)
    assert "11 a requests in 60 s" in answer.reason and "limit 10" in answer.reason


def test_an_open_breaker_holds_even_a_quiet_window_without_tripping_again():
    answer = decide(IRREVERSIBLE, calm(requests=1, tripped=True), "a")
    assert (answer.decision, answer.cause, answer.trips) == (HOLD, "breaker", False)


def test_the_breaker_resets_after_a_window_within_the_limit():
    rule = Rule(reversible=False, breaker_factor=5, breaker_floor=3)
    assert breaker_resets(10, rule, 2.0)
    assert not breaker_resets(11, rule, 2.0)


def test_the_cap_holds_or_denies_beyond_it():
    rule = Rule(reversible=False, breaker_factor=None, cap=3)
    assert decide(rule, calm(allowed=2), "a").decision == ALLOW
    assert decide(rule, calm(allowed=3), "a").cause == "cap"
    assert decide(rule, calm(allowed=3), "a").decision == HOLD
    denying = Rule(reversible=False, breaker_factor=None, cap=3, over_cap=DENY)
    assert decide(denying, calm(allowed=3), "a").decision == DENY


def test_a_reversible_action_set_to_always_allow_is_allowed_whatever_else_holds():
    rule = Rule(reversible=True, always_allow=True, cap=0)
    situation = calm(mode="off", severe_incident=1, tripped=True, requests=10**6)
    assert decide(rule, situation, "tag").cause == "always_allow"


def test_always_allow_means_nothing_for_an_irreversible_action():
    rule = Rule(reversible=False, always_allow=True)
    assert decide(rule, calm(mode="off"), "a").decision == HOLD


def test_the_baseline_is_per_window_over_the_history_there_is():
    assert baseline_per_window(600, 6 * 3600, 60) == 600 * 60 / (6 * 3600)
    assert baseline_per_window(600, 1800, 60) is None  # under an hour: no baseline


def test_windows_are_fixed_and_aligned():
    assert window_start(125.5, 60) == 120
    assert window_start(120, 60) == 120
    assert window_start(119.9, 60) == 60


def test_the_counter_decides_only_what_the_situation_leaves_open():
    rule = Rule(reversible=False, breaker_factor=5, breaker_floor=20, cap=7)
    assert room(rule, 10.0) == (50, 7)
    assert not decided_before_counting(rule, calm())
    for changes in ({"mode": "off"}, {"severe_incident": 3}, {"tripped": True}):
        assert decided_before_counting(rule, calm(**changes))
    assert decided_before_counting(Rule(reversible=True, always_allow=True), calm())
    # An open breaker means nothing once the owner turned the breaker off.
    assert not decided_before_counting(
        Rule(reversible=False, breaker_factor=None), calm(tripped=True)
    )


def test_the_counters_room_and_decide_agree_everywhere():
    rule = Rule(reversible=False, breaker_factor=2, breaker_floor=4, cap=3)
    most, cap = room(rule, 1.0)
    for requests in range(1, 10):
        for allowed in range(0, requests):
            fits = requests <= most and allowed < cap
            answer = decide(rule, calm(requests=requests, allowed=allowed, baseline=1.0), "a")
            assert (answer.decision == ALLOW) == fits
