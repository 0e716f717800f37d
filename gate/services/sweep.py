"""Beat's sweep of the gate's due work: holds past their time expire to their declared
outcome, breakers back within their limit close, owed breaker alerts are raised or
resolved, stale baselines refresh and old counters go. Each part is claimed atomically, so
a sweep running twice does nothing twice."""

from datetime import datetime, timedelta
from typing import cast

from django.db import transaction
from django.utils import timezone

from gate import rules
from gate.models import GateCounter, GateRule, Hold
from gate.services.breaker import (
    baseline_refresh,
    breaker_alert_resolve_owed,
    breaker_alert_send,
    breaker_close,
)
from gate.services.holds import holds_claim, holds_record

BASELINE_REFRESH = timedelta(minutes=10)
# Counters older than this are pruned by the sweep (the blast radius reads holds, not these).
COUNTER_DAYS = 30


def holds_expire_due(now: datetime | None = None, limit: int = 5000) -> int:
    """Pending holds past their time turn into their declared outcome (beat's sweep)."""
    now = now or timezone.now()
    ids = list(
        Hold.objects.filter(status=Hold.Status.PENDING, expires_at__lte=now)
        .order_by("expires_at")
        .values_list("pk", flat=True)[:limit]
    )
    if not ids:
        return 0
    reason = "Nobody decided before it expired: the rule's declared outcome applies."
    with transaction.atomic():
        claimed = holds_claim(ids, status=None, now=now, user_id=None, reason=reason)
        decided = Hold.objects.filter(pk__in=claimed).select_related("action_type")
        holds_record(decided, actor=None, verb="hold.expire", reason=reason, now=now)
    return len(claimed)


def breakers_check(now: datetime | None = None) -> int:
    """Close each open breaker whose last whole window since the trip stayed within its
    limit; resolve the alerts of closed ones. Answers how many closed."""
    now = now or timezone.now()
    closed = 0
    for rule in GateRule.objects.filter(tripped_at__isnull=False).select_related("action_type"):
        tripped = cast(datetime, rule.tripped_at)  # never None: the filter's
        spec = rule.as_rule()
        current = rules.window_start(now.timestamp(), spec.window_seconds)
        last = current - spec.window_seconds
        if last <= rules.window_start(tripped.timestamp(), spec.window_seconds):
            continue  # no whole window since the one that tripped it
        requests = (
            GateCounter.objects.filter(action_type_id=rule.action_type_id, window_start=last)
            .values_list("requests", flat=True)
            .first()
            or 0
        )
        if rules.breaker_resets(requests, spec, rule.baseline):
            with transaction.atomic():
                closed += breaker_close(
                    rule,
                    actor=None,
                    reason=f"{requests} requests in the last whole window, within the limit "
                    f"of {rule.limit}.",
                    now=now,
                )
    return closed


def gate_sweep(now: datetime | None = None) -> dict:
    """Beat's periodic sweep of the gate's due work (each part claimed atomically)."""
    now = now or timezone.now()
    expired = holds_expire_due(now)
    closed = breakers_check(now)
    raised = 0
    for rule_id in GateRule.objects.filter(tripped_at__isnull=False, alerted_at=None).values_list(
        "pk", flat=True
    ):
        raised += breaker_alert_send(rule_id=rule_id, now=now) is not None
    for rule in GateRule.objects.filter(tripped_at=None, alerted_at__isnull=False).select_related(
        "action_type"
    ):
        with transaction.atomic():
            breaker_alert_resolve_owed(rule, now)
    stale = now - BASELINE_REFRESH
    for rule in GateRule.objects.filter(tripped_at=None, baseline_at__lt=stale).select_related(
        "action_type"
    ):
        baseline_refresh(rule=rule, now=now)
    cutoff = rules.window_start((now - timedelta(days=COUNTER_DAYS)).timestamp(), 60)
    GateCounter.objects.filter(window_start__lt=cutoff).delete()
    return {"expired": expired, "breakers_closed": closed, "alerts": raised}
