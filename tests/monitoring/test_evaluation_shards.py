"""Evaluation across workers: each shard's task evaluates its own systems, a system held by
one worker is left to it (until its lease ends), and two workers on one shard share it."""

from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from monitoring.models import EvaluationClaim, Monitor
from monitoring.services.evaluation import monitors_evaluate
from monitoring.services.monitors import monitor_create
from tests.concurrency import at_once
from tests.factories import AISystemFactory

NOW = datetime.now(UTC).replace(microsecond=0)


def _systems(owner, count=6):
    systems = [AISystemFactory(slug=f"system-{n}", owner=owner) for n in range(count)]
    for system in systems:
        monitor_create(actor=owner, system=system, name="Refusals", kind="refusal_rate", target="")
    return systems


def _evaluated() -> set[int]:
    return set(
        Monitor.objects.filter(evaluated_through__isnull=False).values_list("system_id", flat=True)
    )


@pytest.mark.django_db
def test_each_shard_evaluates_its_own_systems(owner):
    systems = _systems(owner)

    first = monitors_evaluate(now=NOW, shard=0, shards=2)

    even = {s.pk for s in systems if s.pk % 2 == 0}
    assert _evaluated() == even
    assert first["monitors"] == len(even)
    monitors_evaluate(now=NOW, shard=1, shards=2)
    assert _evaluated() == {s.pk for s in systems}


@pytest.mark.django_db
def test_a_system_another_worker_holds_waits_for_its_lease_to_end(owner):
    held, free = _systems(owner, count=2)
    monitors_evaluate(now=NOW)  # every system gets its claim row
    Monitor.objects.update(evaluated_through=None)
    # A worker that died while holding it: nobody evaluates the system until the lease ends.
    EvaluationClaim.objects.filter(system=held).update(
        claimed_until=timezone.now() + timedelta(minutes=1)
    )

    monitors_evaluate(now=NOW)
    assert _evaluated() == {free.pk}

    EvaluationClaim.objects.filter(system=held).update(
        claimed_until=timezone.now() - timedelta(seconds=1)
    )
    monitors_evaluate(now=NOW)
    assert _evaluated() == {held.pk, free.pk}
    assert not EvaluationClaim.objects.filter(claimed_until__isnull=False).exists()


@pytest.mark.django_db(transaction=True)
def test_two_workers_on_one_shard_evaluate_each_system_once(owner):
    systems = _systems(owner)
    summaries = at_once(lambda: monitors_evaluate(now=NOW))

    assert sum(s["monitors"] for s in summaries) == len(systems)
    assert _evaluated() == {s.pk for s in systems}
