"""The event contract's two statements agree: the typed structs that accept a batch, and
the listing that names every problem of a refused one. Thousands of events, each a valid
one with a few fields changed at random (fixed seed), get the same verdict both ways, and
the same answer whether they come as the event API's JSON body or as dicts."""

import copy
import json
import random
from datetime import UTC, datetime, timedelta

import msgspec

from monitoring import contract, event_problems
from monitoring.event_schema import FUTURE_SLACK, Checked

NOW = datetime(2026, 11, 28, 14, 32, tzinfo=UTC)
TEXTS = ["", "a", "x" * 40, "x" * 41, "x" * 64, "x" * 65, "x" * 100, "x" * 101, "x" * 200]
TEXTS += ["x" * 201, "a\x00b", "tab\tnew\nline\\", "ünï\u2028"]
NUMBERS = [0, 1, -1, 0.5, 1e308, 10**9, 10**9 + 1, 2**63, 2**64, -(2**63) - 1, 13, 2.0]
OTHERS = [None, True, False, [], {}, ["a"], {"a": 1}]
TIMES = ["2026-11-28T14:32:05Z", "2026-11-28T14:32:05.123+02:00", "2026-11-28T14:32:05"]
TIMES += ["yesterday", "2026-11-28T14:40:00Z", "2099-01-01T00:00:00Z", "2026-11-28 14:32:05Z"]


def _valid(n: int) -> dict:
    return {
        "id": f"e-{n}",
        "ts": "2026-11-28T14:30:00Z",
        "input": {"amount": 12.5, "country": "DE"},
        "output": {"label": "approve", "score": 0.9, "text": "Within policy."},
        "refused": False,
        "versions": {"model": "v1", "prompt": 2},
        "actions": [{"type": "refund_issue", "subject": "c-1"}],
        "subject": "c-1",
        "scores": {"faithfulness": 0.8},
        "error": "",
        "finish_reason": "stop",
        "usage": {"input_tokens": 10, "output_tokens": 5},
        "provider": "openai",
    }


def _anything(rng: random.Random):
    pool = rng.choice([TEXTS, NUMBERS, OTHERS, TIMES])
    return copy.deepcopy(rng.choice(pool))


def _mutate(rng: random.Random, event: dict) -> dict:
    for _ in range(rng.choice([1, 1, 2, 3])):
        where = rng.choice(["top", "top", "output", "usage", "versions", "actions", "scores"])
        if where == "top":
            field = rng.choice([*sorted(contract_fields()), "colour"])
            if rng.random() < 0.2:
                event.pop(field, None)
            else:
                event[field] = rng.choice(TIMES) if field == "ts" else _anything(rng)
        elif where != "actions" and isinstance(event.get(where), dict):
            keys = {
                "output": ["label", "score", "text", "colour"],
                "usage": ["input_tokens", "output_tokens", "cached"],
                "versions": ["model", "prompt", "retrieval", "config", "weights"],
                "scores": ["faithfulness", "tox.v2", "", "bad name", "x" * 65],
            }[where]
            event[where][rng.choice(keys)] = _anything(rng)
        elif where == "actions" and isinstance(event.get(where), list):
            action = {"type": _anything(rng), "subject": _anything(rng)}
            if rng.random() < 0.3:
                action.pop("subject")
            event[where].append(action if rng.random() < 0.9 else _anything(rng))
    return event


def contract_fields():
    from monitoring.event_schema import FIELDS

    return FIELDS


def _struct_accepts(event) -> bool:
    try:
        msgspec.convert(event, Checked)
    except msgspec.ValidationError:
        return False
    return True


def test_the_structs_and_the_listing_give_every_event_the_same_verdict():
    rng = random.Random(17)
    latest = NOW + FUTURE_SLACK
    verdicts = {True: 0, False: 0}
    for n in range(6000):
        event = _mutate(rng, _valid(n))
        listed = event_problems.event_problems(0, event, latest)
        future = [p for p in listed if p["message"] == "More than 5 minutes in the future."]
        accepted = _struct_accepts(event)
        assert accepted == (len(listed) == len(future)), (event, listed)
        verdicts[accepted] += 1
    assert min(verdicts.values()) > 1000  # both verdicts well exercised


def test_a_json_body_and_the_same_events_as_dicts_get_the_same_answer():
    rng = random.Random(18)
    for n in range(300):
        batch = [_mutate(rng, _valid(10 * n)) if rng.random() < 0.5 else _valid(10 * n)]
        batch += [_valid(10 * n + k) for k in range(1, rng.randint(2, 6))]
        body = json.dumps({"events": batch}).encode()
        from_body = contract.events_decode(body, NOW)
        from_dicts = contract.events_check(json.loads(body), NOW)
        assert from_body[1] == from_dicts[1]
        assert [msgspec.to_builtins(e) for e in from_body[0]] == [
            msgspec.to_builtins(e) for e in from_dicts[0]
        ]


def test_a_refused_batch_names_every_problem_of_every_event():
    batch = [_valid(n) for n in range(4)]
    batch[0]["id"] = ""
    batch[0]["output"]["score"] = "high"
    batch[2]["subject"] = "c\x00"
    batch[3]["ts"] = (NOW + timedelta(hours=1)).isoformat()
    batch[3]["usage"] = {"input_tokens": -1, "cached": 3}
    checked, problems = contract.events_check({"events": batch}, NOW)
    assert [(p["index"], p["field"]) for p in problems] == [
        (0, "id"),
        (0, "output.score"),
        (2, "subject"),
        (3, "ts"),
        (3, "usage.cached"),
        (3, "usage.input_tokens"),
    ]
    assert [event.client_id for event in checked] == ["e-1"]
