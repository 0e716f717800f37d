"""The breaker of an action type: its baseline (the limit is a multiple of it), closing it
by hand or once back within the limit, and the alert it owes while open.

It trips in `gate.services.decide`, on the first request over the limit; the alert is then
due work, raised by the task queued at the trip or else by the sweep, claimed once.
"""

from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import Sum
from django.utils import timezone

from core.permissions import require
from core.services import audit_record
from gate import rules
from gate.errors import GateError
from gate.models import GateRule
from monitoring.models import Monitor, Rollup
from monitoring.services.alerts import alert_raise, alert_resolve

BASELINE_DAYS = 7
# The last hour is left out of the baseline: a spike must not raise its own limit.
BASELINE_GAP = timedelta(hours=1)


def baseline_refresh(*, rule: GateRule, now: datetime | None = None) -> float | None:
    """The action's count per window over the previous seven days of its system's history,
    leaving out the last hour (`gate.rules`). Kept while the breaker is open."""
    now = now or timezone.now()
    if rule.tripped_at is not None and rule.baseline_at is not None:
        return rule.baseline
    end = now - BASELINE_GAP
    since = now - timedelta(days=BASELINE_DAYS)
    # The system's first rollup bucket in the period: how much history there is. The
    # (system, signal, bucket, …) unique index answers it from its first entry.
    first = (
        Rollup.objects.filter(system_id=rule.system_id, signal="events", bucket__gte=since)
        .order_by("bucket")
        .values_list("bucket", flat=True)
        .first()
    )
    total = 0
    span = 0.0
    if first is not None and first < end:
        total = (
            Rollup.objects.filter(
                system_id=rule.system_id,
                signal="action",
                key=rule.action_type.name,
                bucket__gte=since,
                bucket__lt=end,
            ).aggregate(n=Sum("n"))["n"]
            or 0
        )
        span = (end - first).total_seconds()
    baseline = rules.baseline_per_window(total, span, rule.window_seconds)
    GateRule.objects.filter(pk=rule.pk).update(baseline=baseline, baseline_at=now)
    rule.baseline, rule.baseline_at = baseline, now
    return baseline


@transaction.atomic
def breaker_reset(*, actor, rule: GateRule, reason: str, now: datetime | None = None) -> bool:
    """A person closes the breaker by hand (it re-trips on the next request over the limit)."""
    require(actor, "gate.manage", rule.system)
    if not reason.strip():
        raise GateError("Say why the breaker can close.", "reason")
    return breaker_close(rule, actor=actor, reason=reason.strip(), now=now or timezone.now())


def breaker_close(rule: GateRule, *, actor, reason: str, now: datetime) -> bool:
    """Close an open breaker (by a person, or by the sweep with `actor` None), audited, and
    resolve its alert if one was raised. False when it was not open (or closed meanwhile)."""
    tripped = rule.tripped_at
    if tripped is None or not GateRule.objects.filter(pk=rule.pk, tripped_at=tripped).update(
        tripped_at=None
    ):
        return False
    rule.tripped_at = None
    audit_record(
        actor=actor,
        verb="gate.breaker_reset",
        target=rule,
        before={"tripped_at": tripped},
        after={"tripped_at": None},
        reason=reason,
    )
    breaker_alert_resolve_owed(rule, now)
    return True


def breaker_monitor(rule: GateRule) -> Monitor:
    """The monitor that carries the breaker's alerts: a downstream-action rate monitor the
    evaluation skips (disabled), so only the gate opens and resolves its alerts."""
    monitor, _ = Monitor.objects.get_or_create(
        system_id=rule.system_id,
        kind=Monitor.Kind.ACTION_RATE,
        target=rule.action,
        name=f"Gate breaker: {rule.action}",
        defaults={"enabled": False, "status": Monitor.Status.OK},
    )
    return monitor


def breaker_alert_send(*, rule_id: int, now: datetime | None = None):
    """Raise the alert of an open breaker once: claimed with a conditional UPDATE, so the
    task queued at the trip and the sweep never raise it twice."""
    now = now or timezone.now()
    with transaction.atomic():
        if not GateRule.objects.filter(
            pk=rule_id, tripped_at__isnull=False, alerted_at=None
        ).update(alerted_at=now):
            return None
        rule = GateRule.objects.select_related("action_type", "system").get(pk=rule_id)
        monitor = breaker_monitor(rule)
        return alert_raise(monitor=monitor, evidence=rule.trip_evidence, now=now)


def breaker_alert_resolve_owed(rule: GateRule, now: datetime) -> None:
    """Resolve the alert of a closed breaker if one was raised (claimed once)."""
    if GateRule.objects.filter(pk=rule.pk, tripped_at=None, alerted_at__isnull=False).update(
        alerted_at=None
    ):
        alert_resolve(monitor=breaker_monitor(rule), now=now)
