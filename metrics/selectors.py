"""The reads behind the failsafe_* metrics: each a single aggregate query, small in its
answer (one row per system at most) whatever the size of the tables (docs/METRICS.md)."""

import contextlib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

from django.core.cache import cache
from django.db import connection, transaction
from django.db.models import (
    BigIntegerField,
    Count,
    Exists,
    F,
    OuterRef,
    Subquery,
    Sum,
    Value,
)
from django.db.models.functions import Coalesce

from comms.models import WebhookDelivery
from gate.models import GateCounter
from groundtruth.models import ReviewItem
from monitoring.models import Alert, Rollup
from systems.mode_feed import SERVICE_ERRORS
from systems.models import AISystem, Mode, ModeAck, ModeChange, ModeClient


@contextlib.contextmanager
def scrape_reads() -> Iterator[None]:
    """One transaction for a scrape's reads. On PostgreSQL without JIT compilation: these
    short aggregates are estimated costly enough to trigger it, and compiling them takes
    longer (a few hundred ms) than running them."""
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL jit = off")
        yield


# The review backlog, as the review queue counts it: awaiting a verdict, or disputed.
WAITING_REVIEW = (ReviewItem.Status.OPEN, ReviewItem.Status.DISPUTED)


def _of_system(rows, total):
    """`total` over `rows` of the outer system, 0 when it has none (a subquery, so each
    count reads its own table's rows of one system through that table's index)."""
    per_system = rows.filter(system=OuterRef("pk")).order_by().values("system")
    return Coalesce(
        Subquery(per_system.annotate(total=total).values("total")),
        Value(0),
        output_field=BigIntegerField(),
    )


# Rollup buckets this old are sealed: their event sums are kept (in the cache) rather than
# read again at every scrape, as the rollup history grows by a row per system every 2 s.
SEALED_AFTER = timedelta(hours=6)
SEALED_KEY = "metrics:events-sealed"
# Then they are read whole again: what arrived late for a sealed bucket gets counted, and
# sums that no longer match the database (a restored backup) do not outlive a day.
READ_WHOLE_EVERY = timedelta(days=1)


def _events_in(since: datetime | None = None, until: datetime | None = None) -> dict[int, int]:
    """System id -> the events of its rollup buckets from `since` on, before `until`
    (None: no bound), read as one index range of (system, signal, bucket) per system."""
    rows = Rollup.objects.filter(signal="events")
    if since is not None:
        rows = rows.filter(bucket__gte=since)
    if until is not None:
        rows = rows.filter(bucket__lt=until)
    per_system = AISystem.objects.annotate(stored=_of_system(rows, Sum("n")))
    return dict(per_system.values_list("pk", "stored"))


def _events_sealed(seal: datetime) -> dict[int, int]:
    """System id -> its events in buckets before `seal`: the kept sums of an earlier seal
    plus the buckets since, or read whole when none are kept or they were last read whole
    a day before. An event that arrives after its bucket was sealed counts from then."""
    try:
        kept = cache.get(SEALED_KEY)
    except SERVICE_ERRORS:  # no cache: read them whole, slower but right
        return _events_in(until=seal)
    if kept is not None and kept[0] == seal:
        return kept[1]
    if kept is None or not kept[2] <= kept[0] < seal < kept[2] + READ_WHOLE_EVERY:
        sealed, whole = _events_in(until=seal), seal
    else:
        since, earlier, whole = kept
        sealed = {pk: earlier.get(pk, 0) + n for pk, n in _events_in(since, seal).items()}
    with contextlib.suppress(*SERVICE_ERRORS):
        cache.set(SEALED_KEY, (seal, sealed, whole), timeout=2 * READ_WHOLE_EVERY.total_seconds())
    return sealed


def events_ingested(now: datetime) -> dict[int, int]:
    """System id -> the events stored for it, as the rollups count them: the sealed sums
    and the buckets since, read at each scrape."""
    seal = (now - SEALED_AFTER).astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    sealed = _events_sealed(seal)
    return {pk: sealed.get(pk, 0) + n for pk, n in _events_in(since=seal).items()}


def systems_facts(now: datetime) -> list[dict]:
    """Every system with its mode, events ingested, alerts open and review backlog."""
    events = events_ingested(now)
    rows = (
        AISystem.objects.order_by("slug")
        .annotate(
            current_mode=Coalesce(F("runtime_mode__mode"), Value(Mode.AI)),
            alerts_firing=_of_system(Alert.objects.filter(status=Alert.Status.OPEN), Count("pk")),
            review_backlog=_of_system(
                ReviewItem.objects.filter(status__in=WAITING_REVIEW), Count("pk")
            ),
        )
        .values("pk", "slug", "current_mode", "alerts_firing", "review_backlog")
    )
    return [{**row, "events_ingested": events.get(row["pk"], 0)} for row in rows]


def mode_ack_delays(since: datetime) -> list[tuple[str, float]]:
    """(system slug, seconds) from each mode change or drill made since `since` to each
    client's first acknowledgement of it. Only clients already running at the change count:
    one that starts later acknowledges the revision it finds, which timed nothing."""
    change = ModeChange.objects.filter(system=OuterRef("system"), revision=OuterRef("revision"))
    running = ModeClient.objects.filter(
        system=OuterRef("system"),
        client_id=OuterRef("client_id"),
        first_seen_at__lte=OuterRef("changed_at"),
    )
    acks = (
        ModeAck.objects.filter(at__gte=since)
        .annotate(changed_at=Subquery(change.values("at")[:1]))
        .filter(changed_at__gte=since)
        .filter(Exists(running))
        .values_list("system__slug", "at", "changed_at")
    )
    return [(slug, (at - changed_at).total_seconds()) for slug, at, changed_at in acks]


def webhook_deliveries_by_state() -> dict[str, int]:
    """How many deliveries the log holds in each state (pending, delivered, failed)."""
    counts = dict(WebhookDelivery.objects.order_by().values_list("state").annotate(n=Count("pk")))
    return {state: counts.get(state, 0) for state in WebhookDelivery.State.values}


def gate_decisions_since(since: datetime) -> dict[str, int]:
    """The gate's answers (allow, hold, deny) in the counting windows begun since `since`:
    its counters are the only record of every decision (a hold also leaves a `Hold`)."""
    totals = GateCounter.objects.filter(window_start__gte=int(since.timestamp())).aggregate(
        requests=Coalesce(Sum("requests"), 0),
        allowed=Coalesce(Sum("allowed"), 0),
        denied=Coalesce(Sum("denied"), 0),
    )
    return {
        "allow": totals["allowed"],
        "hold": totals["requests"] - totals["allowed"] - totals["denied"],
        "deny": totals["denied"],
    }
