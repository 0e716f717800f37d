"""`record()` against the real events endpoint (uvicorn in a thread, PostgreSQL): every
event stored once, a resend never, an invalid event refused alone, the simulator's events
accepted."""

import time

import pytest

from monitoring.models import Event
from monitoring.simulator import Simulator
from systems.services import token_issue

SLUG = "refund-classifier"


@pytest.fixture
def events_token(live_system, admin_user):
    _, raw = token_issue(
        actor=admin_user, system=live_system, name="sdk record tests", scopes=["events:write"]
    )
    return raw


def events(count):
    return [
        {
            "id": f"live-{n}",
            "input": {"amount": 10.0 + n % 400, "country": "DE"},
            "output": {"label": "approve", "score": 0.05, "text": "Within policy."},
            "refused": False,
            "subject": f"cus_{n % 97:05d}",
        }
        for n in range(count)
    ]


def test_recorded_events_are_all_stored_once(live_client, live_system, events_token):
    failsafe = live_client(token=events_token, system=SLUG, batch_size=500)

    for event in events(1200):
        failsafe.record(event)

    assert failsafe.flush(timeout=30)
    assert Event.objects.filter(system=live_system).count() == 1200
    stats = failsafe.record_stats()
    assert (stats["sent"], stats["duplicates"], stats["rejected"], stats["dropped"]) == (
        1200,
        0,
        0,
        0,
    )
    assert failsafe.transport.count("/events", method="POST") == 3


def test_events_recorded_again_are_counted_as_duplicates(live_client, live_system, events_token):
    failsafe = live_client(token=events_token, system=SLUG)
    for event in events(300):
        failsafe.record(event)
    assert failsafe.flush(timeout=30)

    for event in events(300):
        failsafe.record(event)

    assert failsafe.flush(timeout=30)
    assert Event.objects.filter(system=live_system).count() == 300
    assert failsafe.record_stats()["duplicates"] == 300


def test_a_token_without_the_scope_is_refused(live_client, live_system, live_token):
    failsafe = live_client(token=live_token, system=SLUG)  # mode:read and bundle:read only

    failsafe.record(events(1)[0])

    assert failsafe.flush(timeout=30)
    assert failsafe.record_stats()["rejected"] == 1
    assert not Event.objects.filter(system=live_system).exists()


def test_an_invalid_event_is_rejected_and_the_rest_of_its_batch_stored(
    live_client, live_system, events_token
):
    failsafe = live_client(token=events_token, system=SLUG, batch_size=100)
    batch = events(100)
    batch[40]["output"]["label"] = 7  # not a string

    for event in batch:
        failsafe.record(event)

    assert failsafe.flush(timeout=30)
    stats = failsafe.record_stats()
    assert (stats["sent"], stats["rejected"]) == (99, 1)
    stored = set(Event.objects.filter(system=live_system).values_list("client_id", flat=True))
    assert stored == {f"live-{n}" for n in range(100) if n != 40}


def test_the_simulators_events_are_accepted(live_client, live_system, events_token):
    failsafe = live_client(token=events_token, system=SLUG)
    now = time.time()
    for kind, scenario in (
        ("refund-classifier", "fraud-spike"),
        ("support-reply", "short-answers"),
    ):
        simulator = Simulator(
            kind,
            seed=1,
            versions={"model": "3", "prompt": "13", "retrieval": "7"},
            scenario=scenario,
            shift_at=now - 50,
        )
        for event in simulator.events(now - 100, 1000, rate=10):
            failsafe.record(event)

    assert failsafe.flush(timeout=30)
    assert failsafe.record_stats()["rejected"] == 0
    assert Event.objects.filter(system=live_system).count() == 2000
