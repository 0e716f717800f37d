"""What is stored is what was sent: the COPY rows written by hand keep every character."""

import json
from datetime import UTC, datetime, timedelta

import pytest

from monitoring.models import Event, Rollup
from systems.services import token_issue

pytestmark = pytest.mark.django_db

URL = "/api/v1/systems/refund-classifier/events"
AT = (datetime.now(UTC) - timedelta(minutes=10)).replace(microsecond=123000)
AWKWARD = 'tab\there, new\nline, return\r, back\\slash, quote", \\N, ünïcode ✓, \u2028, \x01'


def _post(client, system, events):
    token = token_issue(actor=None, system=system, name="t", scopes=["events:write"])[1]
    return client.post(
        URL,
        json.dumps({"events": events}),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {token}",
    )


def test_awkward_characters_are_stored_as_sent(client, system):
    event = {
        "id": "id\twith\\tab",
        "ts": AT.isoformat(),
        "input": {"note": AWKWARD, "nested": {"list": [1, 2.5, None, True]}},
        "output": {"label": "la\\bel\n", "score": 1e-07, "text": AWKWARD},
        "versions": {"model": 7, "prompt": "v\\2"},
        "actions": [{"type": "account\thold", "subject": AWKWARD, "ignored": 1}],
        "subject": AWKWARD,
        "scores": {"faith:v2": 0.25},
        "error": "time\tout",
        "finish_reason": "stop\\",
        "usage": {"input_tokens": 0, "output_tokens": 1_000_000_000},
        "provider": "prov\nider",
    }
    assert _post(client, system, [event]).status_code == 202
    stored = Event.objects.get()
    assert stored.client_id == event["id"]
    assert stored.ts == AT
    assert stored.input == event["input"]
    assert (stored.label, stored.score, stored.text) == ("la\\bel\n", 1e-07, AWKWARD)
    assert stored.versions == {"model": "7", "prompt": "v\\2"}
    assert stored.actions == [{"type": "account\thold", "subject": AWKWARD}]
    assert stored.subject == AWKWARD
    assert stored.scores == {"faith:v2": 0.25}
    assert (stored.error, stored.finish_reason, stored.provider) == (
        "time\tout",
        "stop\\",
        "prov\nider",
    )
    assert (stored.input_tokens, stored.output_tokens) == (0, 1_000_000_000)


def test_null_means_none_and_absent_fields_take_their_defaults(client, system):
    events = [
        {"id": "a", "ts": AT.isoformat()},
        {
            "id": "b",
            "ts": AT.isoformat(),
            "output": {"label": None, "score": None, "text": None},
            "subject": None,
            "scores": None,
            "error": None,
            "finish_reason": None,
            "usage": None,
            "provider": None,
        },
    ]
    assert _post(client, system, events).json() == {"accepted": 2, "duplicates": 0}
    for stored in Event.objects.all():
        assert (stored.label, stored.score, stored.text, stored.refused) == ("", None, "", False)
        assert (stored.input, stored.versions, stored.actions, stored.scores) == ({}, {}, [], {})
        assert (stored.subject, stored.error, stored.finish_reason, stored.provider) == ("",) * 4
        assert (stored.input_tokens, stored.output_tokens) == (None, None)
    assert Rollup.objects.get(signal="events").n == 2
    assert not Rollup.objects.exclude(signal="events").exists()


def test_a_nul_anywhere_is_a_400_naming_its_field(client, system):
    base = {"id": "a", "ts": AT.isoformat()}
    for change, field in [
        ({"id": "a\x00"}, "id"),
        ({"input": {"k": "v\x00"}}, "input"),
        ({"output": {"label": "\x00"}}, "output.label"),
        ({"actions": [{"type": "t", "subject": "\x00"}]}, "actions"),
        ({"subject": "\x00"}, "subject"),
        ({"error": "\x00"}, "error"),
        ({"provider": "\x00"}, "provider"),
    ]:
        response = _post(client, system, [base | change])
        assert response.status_code == 400
        assert [e["field"] for e in response.json()["errors"]] == [field]
    assert not Event.objects.exists()


def test_a_large_batch_of_awkward_texts_is_stored_whole(client, system):
    events = [
        {
            "id": f"e-{n}",
            "ts": (AT + timedelta(milliseconds=n)).isoformat(),
            "output": {"label": "approve", "text": AWKWARD if n % 7 == 0 else f"ok {n}"},
        }
        for n in range(1234)
    ]
    assert _post(client, system, events).json() == {"accepted": 1234, "duplicates": 0}
    texts = dict(Event.objects.values_list("client_id", "text"))
    assert texts == {e["id"]: e["output"]["text"] for e in events}
    assert sum(Rollup.objects.filter(signal="label").values_list("n", flat=True)) == 1234
