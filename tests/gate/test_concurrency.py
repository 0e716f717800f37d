"""The cap is never exceeded, however many requests arrive at once: each decision row-locks
its window's counter, so concurrent ones decide one after another (real PostgreSQL)."""

import threading
from collections import Counter

import pytest
from django.db import connection

from gate.models import GateCounter, Hold
from gate.services.decide import gate_decide
from tests.gate.conftest import NOW, set_rule

THREADS = 24
EACH = 10
CAP = 37


def _hammer(system_id, barrier, answers, errors):
    try:
        barrier.wait()
        for i in range(EACH):
            decision, _ = gate_decide(
                system_id=system_id,
                action="account_hold",
                subject=f"{threading.get_ident()}-{i}",
                now=NOW,
            )
            answers.append(decision.decision)
    except Exception as error:  # noqa: BLE001 - reported by the test
        errors.append(error)
    finally:
        connection.close()


@pytest.mark.django_db(transaction=True)
def test_the_cap_is_exact_under_concurrent_requests(system, account_hold):
    set_rule(account_hold, cap=CAP, breaker_factor=None)
    barrier = threading.Barrier(THREADS)
    answers, errors = [], []
    threads = [
        threading.Thread(target=_hammer, args=(system.pk, barrier, answers, errors))
        for _ in range(THREADS)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    assert Counter(answers) == {"allow": CAP, "hold": THREADS * EACH - CAP}
    counter = GateCounter.objects.get(action_type=account_hold)
    assert (counter.requests, counter.allowed, counter.held) == (
        THREADS * EACH,
        CAP,
        THREADS * EACH - CAP,
    )
    assert Hold.objects.filter(cause="cap").count() == THREADS * EACH - CAP


@pytest.mark.django_db(transaction=True)
def test_the_breaker_trips_once_under_concurrent_requests(system, account_hold):
    set_rule(account_hold, breaker_floor=50)
    barrier = threading.Barrier(THREADS)
    answers, errors = [], []
    threads = [
        threading.Thread(target=_hammer, args=(system.pk, barrier, answers, errors))
        for _ in range(THREADS)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    assert Counter(answers) == {"allow": 50, "hold": THREADS * EACH - 50}
    from core.models import AuditEntry

    assert AuditEntry.objects.filter(verb="gate.breaker_trip").count() == 1
