"""Which worker evaluates which system: systems are spread over shards (system id modulo
FAILSAFE_EVALUATION_SHARDS), beat queues one evaluation per shard, and each evaluation
claims its shard's systems a batch at a time (`EvaluationClaim`).

The claim is a conditional UPDATE of rows locked with SKIP LOCKED: two workers on the same
shard share its systems and never hold one at once. What is due lives in the database
(`evaluated_at` before the run started), so a restart loses nothing, and a worker that
dies frees its systems when their lease ends.
"""

from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from monitoring.models import EvaluationClaim, Monitor

BATCH = 100
# Longer than a batch takes; a lease that ran out lets another worker take the system (its
# monitors' own claims still count each bucket once).
LEASE = timedelta(minutes=1)


def claims_open(shard: int, shards: int) -> None:
    """A claim row for every system of the shard with an enabled monitor."""
    missing = (
        Monitor.objects.filter(enabled=True)
        .exclude(system_id__in=EvaluationClaim.objects.values("system_id"))
        .annotate(shard=F("system_id") % shards)
        .filter(shard=shard)
        .values_list("system_id", flat=True)
        .distinct()
    )
    EvaluationClaim.objects.bulk_create(
        [EvaluationClaim(system_id=pk) for pk in missing], ignore_conflicts=True
    )


def systems_claim(shard: int, shards: int, started: datetime) -> list[int]:
    """Up to BATCH systems of the shard not evaluated since `started` and held by no one,
    now held by this worker."""
    clock = timezone.now()
    with transaction.atomic():
        free = (
            EvaluationClaim.objects.annotate(shard=F("system_id") % shards)
            .filter(shard=shard)
            .filter(Q(claimed_until__isnull=True) | Q(claimed_until__lt=clock))
            .filter(Q(evaluated_at__isnull=True) | Q(evaluated_at__lt=started))
            .order_by("system_id")
            .select_for_update(skip_locked=True)
        )
        ids = list(free.values_list("system_id", flat=True)[:BATCH])
        EvaluationClaim.objects.filter(system_id__in=ids).update(claimed_until=clock + LEASE)
    return ids


def systems_release(ids, *, evaluated: bool) -> None:
    """Let the systems go: evaluated now, or (after a failure) due again at once."""
    done = {"evaluated_at": timezone.now()} if evaluated else {}
    EvaluationClaim.objects.filter(system_id__in=ids).update(claimed_until=None, **done)
