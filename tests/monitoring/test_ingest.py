"""Reporting events: stored exactly once, refused whole when any is wrong, counted in rollups."""

import json
import threading
import time
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection, transaction
from django.db.models import Sum

from monitoring import rollups
from monitoring.models import Event, Rollup
from monitoring.services.ingest import events_ingest
from rollbacks.models import Version
from systems.services import token_issue
from tests.factories import AISystemFactory

pytestmark = pytest.mark.django_db

URL = "/api/v1/systems/refund-classifier/events"
START = (datetime.now(UTC) - timedelta(hours=1)).replace(second=0, microsecond=0)


def _event(n, **changes):
    label = "fraud" if n % 10 == 0 else "approve"
    event = {
        "id": f"e-{n}",
        "ts": (START + timedelta(seconds=n / 4)).isoformat(),
        "input": {"amount": 10 + n, "country": "DE" if n % 3 else "FR"},
        "output": {"label": label, "score": (n % 10) / 10, "text": "x" * (n % 300)},
        "refused": n % 7 == 0,
        "versions": {"model": "v1", "prompt": "2"},
        "actions": [{"type": "account_hold", "subject": f"c-{n}"}] if label == "fraud" else [],
        "subject": f"c-{n % 40}",
    }
    event.update(changes)
    return event


@pytest.fixture
def token(system):
    return token_issue(actor=None, system=system, name="t", scopes=["events:write"])[1]


def _send(client, token, events, **extra):
    return client.post(
        URL,
        json.dumps({"events": events}),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {token}",
        **extra,
    )


def test_a_batch_is_accepted_and_a_resent_batch_stores_nothing_new(client, token):
    batch = [_event(n) for n in range(300)]
    first = _send(client, token, batch)
    assert first.status_code == 202
    assert first.json() == {"accepted": 300, "duplicates": 0}
    again = _send(client, token, batch[100:] + [_event(n) for n in range(300, 350)])
    assert again.json() == {"accepted": 50, "duplicates": 200}
    assert Event.objects.count() == 350
    assert sum(Rollup.objects.filter(signal="events").values_list("n", flat=True)) == 350


def test_an_id_repeated_within_one_batch_is_stored_once(client, token):
    response = _send(client, token, [_event(1), _event(1), _event(2)])
    assert response.json() == {"accepted": 2, "duplicates": 1}
    assert sorted(Event.objects.values_list("client_id", flat=True)) == ["e-1", "e-2"]


def test_one_bad_event_refuses_the_whole_batch_with_each_problem_named(client, token):
    batch = [_event(n) for n in range(5)]
    batch[1]["ts"] = "yesterday"
    batch[3]["output"] = {"label": "fraud", "score": "high"}
    batch[4]["actions"] = [{"subject": "c-1"}]
    response = _send(client, token, batch)
    assert response.status_code == 400
    assert response.json()["errors"] == [
        {"index": 1, "field": "ts", "message": response.json()["errors"][0]["message"]},
        {"index": 3, "field": "output.score", "message": "A finite number."},
        {"index": 4, "field": "actions.0.type", "message": "Each action has a type (a string)."},
    ]
    assert "RFC 3339" in response.json()["errors"][0]["message"]
    assert Event.objects.count() == 0
    assert Rollup.objects.count() == 0


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"id": ""}, "id"),
        ({"ts": "2026-11-28T09:00:00"}, "ts"),
        ({"ts": "2099-01-01T00:00:00Z"}, "ts"),
        ({"refused": "no"}, "refused"),
        ({"versions": {"weights": "1"}}, "versions.weights"),
        ({"input": ["amount"]}, "input"),
        ({"output": {"text": "a\x00b"}}, "output.text"),
        ({"versions": {"prompt": "v1\x00"}}, "versions.prompt"),
        ({"subject": 12}, "subject"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_each_kind_of_bad_field_is_a_400_naming_it(client, token, change, field):
    response = _send(client, token, [_event(0, **change)])
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == field
    assert Event.objects.count() == 0


def test_bodies_that_are_not_a_batch_are_400(client, token):
    deep = "[" * 100_000 + "]" * 100_000
    for body in ["not json", json.dumps({"events": []}), json.dumps([1, 2]), deep, b"\xff\xfe"]:
        response = client.post(
            URL, body, content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {token}"
        )
        assert response.status_code == 400, body
        assert response.json()["errors"][0]["field"] == "events"
    assert Event.objects.count() == 0


def test_more_than_5000_events_is_413_and_nothing_is_stored(client, token):
    response = _send(client, token, [_event(n) for n in range(5001)])
    assert response.status_code == 413
    assert response.json()["errors"][0]["field"] == "events"
    assert Event.objects.count() == 0


def test_a_body_over_the_byte_limit_is_413(client, token, settings):
    settings.FAILSAFE_EVENTS_MAX_BYTES = 2000
    response = _send(client, token, [_event(n) for n in range(20)])
    assert response.status_code == 413
    assert Event.objects.count() == 0


def test_only_a_token_with_the_events_scope_for_this_system_may_send(
    client, system, other_system, responder, client_for
):
    read_only = token_issue(actor=None, system=system, name="r", scopes=["mode:read"])[1]
    other = token_issue(actor=None, system=other_system, name="o", scopes=["events:write"])[1]
    assert _send(client, read_only, [_event(1)]).status_code == 403
    assert _send(client, other, [_event(1)]).status_code == 403
    assert _send(client, "fsk_" + "x" * 43, [_event(1)]).status_code == 401
    person = client_for(responder).post(
        URL, json.dumps({"events": [_event(1)]}), content_type="application/json"
    )
    assert person.status_code == 403
    assert Event.objects.count() == 0


def test_versions_are_resolved_to_the_registry(client, token, system):
    Version.objects.create(
        system=system,
        surface="model",
        number=1,
        content={"provider": "acme", "name": "m", "version_id": "m-2026-10-01"},
        created_by_label="t",
    )
    Version.objects.create(
        system=system, surface="prompt", number=2, content={"template": "t"}, created_by_label="t"
    )
    _send(
        client,
        token,
        [
            _event(1, versions={"model": "m-2026-10-01", "prompt": "prompt@v2"}),
            _event(2, versions={"model": "v1", "prompt": 2}),
            _event(3, versions={"prompt": "v9"}),
        ],
    )
    served = dict(Event.objects.values_list("client_id", "served"))
    assert served == {
        "e-1": {"model": 1, "prompt": 2},
        "e-2": {"model": 1, "prompt": 2},
        "e-3": {"prompt": None},
    }
    cells = set(Rollup.objects.filter(signal="events").values_list("served", flat=True))
    assert cells == {"model:1|prompt:2", "prompt:?v9"}


def test_rollups_equal_a_recount_of_the_raw_events(client, token, settings):
    settings.FAILSAFE_ROLLUP_SECONDS = 5
    for start in range(0, 1200, 400):  # several batches landing in shared buckets
        assert (
            _send(client, token, [_event(n) for n in range(start, start + 400)]).status_code == 202
        )
    _send(client, token, [_event(n) for n in range(0, 200)])  # duplicates add nothing
    recount: Counter = Counter()
    for event in Event.objects.all():
        bucket = rollups.bucket_of(event.ts, 5)
        where = rollups.served_key(event.served, event.versions)
        recount[bucket, "events", "", where] += 1
        recount[bucket, "label", event.label, where] += 1
        if event.refused:
            recount[bucket, "refused", "", where] += 1
        if event.text:
            recount[bucket, "length", rollups.length_bin(len(event.text)), where] += 1
        recount[bucket, "score", rollups.score_bin(event.score), where] += 1
        for action in event.actions:
            recount[bucket, "action", action["type"], where] += 1
    stored = Counter({(r.bucket, r.signal, r.key, r.served): r.n for r in Rollup.objects.all()})
    assert stored == recount
    assert sum(n for (_, signal, _, _), n in stored.items() if signal == "events") == 1200


def test_two_batches_of_two_systems_in_one_transaction_each_stay_with_their_system(system):
    other = AISystemFactory(slug="support-reply")
    with transaction.atomic():
        events_ingest(system=system, payload={"events": [_event(n) for n in range(3)]})
        events_ingest(system=other, payload={"events": [_event(n) for n in range(3, 5)]})
    assert Event.objects.filter(system=system).count() == 3
    assert Event.objects.filter(system=other).count() == 2


def _waiting_on_a_lock() -> bool:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity "
            "WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )
        return cursor.fetchone()[0] > 0


@pytest.mark.django_db(transaction=True)
def test_a_batch_sent_while_another_sender_stores_part_of_it_stores_and_counts_each_once():
    system = AISystemFactory(slug="refund-classifier")
    stored_first = threading.Event()
    release = threading.Event()
    answers: dict = {}

    def first_sender():
        try:
            with transaction.atomic():
                answers["first"] = events_ingest(
                    system=system, payload={"events": [_event(n) for n in range(100)]}
                )
                stored_first.set()
                release.wait(30)  # not committed until the second sender waits on it
        finally:
            connection.close()

    def second_sender():
        try:
            answers["second"] = events_ingest(
                system=system, payload={"events": [_event(n) for n in range(200)]}
            )
        finally:
            connection.close()

    first = threading.Thread(target=first_sender)
    first.start()
    assert stored_first.wait(30)
    second = threading.Thread(target=second_sender)
    second.start()
    deadline = time.monotonic() + 30
    while not _waiting_on_a_lock() and time.monotonic() < deadline:
        time.sleep(0.05)
    release.set()
    first.join(30)
    second.join(30)

    assert answers == {
        "first": {"accepted": 100, "duplicates": 0},
        "second": {"accepted": 100, "duplicates": 100},
    }
    assert Event.objects.filter(system=system).count() == 200
    events = Rollup.objects.filter(system=system, signal="events").aggregate(n=Sum("n"))["n"]
    labels = dict(
        Rollup.objects.filter(system=system, signal="label").values_list("key").annotate(n=Sum("n"))
    )
    assert events == 200
    assert labels == Counter(Event.objects.filter(system=system).values_list("label", flat=True))
