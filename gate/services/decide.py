"""Writes of the gate: deciding a request, the owner's rules, people's decisions on holds,
and the sweep (hold expiry, breaker reset, the breaker's alert).

A decision is a few queries: the action type with its rule and the system's mode, the
system's open incidents, and one transaction that row-locks the window's counter (an
upsert that returns it), decides with `gate.rules`, counts the answer and, for a hold,
writes the hold. Requests for one action decide one after another on that lock, so the
cap is never exceeded however many arrive at once.
"""

import dataclasses
import logging
from datetime import datetime, timedelta

from django.db import connection, transaction
from django.db.models import F, Sum
from django.utils import timezone

from core.permissions import require
from core.services import audit_record, snapshot
from gate import rules
from gate.models import GateCounter, GateRule, Hold
from incidents.models import Incident, TimelineEntry
from incidents.services import timeline_record
from monitoring.models import Monitor, Rollup
from systems.models import ActionType, Mode, RuntimeMode

logger = logging.getLogger(__name__)

BASELINE_DAYS = 7
# The last hour is left out of the baseline: a spike must not raise its own limit.
BASELINE_GAP = timedelta(hours=1)
BASELINE_REFRESH = timedelta(minutes=10)
# Counters older than this are pruned by the sweep (the blast radius reads holds, not these).
COUNTER_DAYS = 30
# How many holds one statement claims (decisions and expiry).
CLAIM_CHUNK = 1000

RULE_FIELDS = [
    "always_allow",
    "window_seconds",
    "breaker_factor",
    "breaker_floor",
    "cap",
    "over_cap",
    "unreachable",
    "hold_minutes",
    "expire_to",
]


class GateError(Exception):
    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.field = field


# --- Deciding ------------------------------------------------------------------------------


def _rule_for(action_type: ActionType) -> GateRule:
    try:
        return action_type.gate_rule
    except GateRule.DoesNotExist:
        rule, _ = GateRule.objects.get_or_create(
            action_type=action_type, defaults={"system_id": action_type.system_id}
        )
        rule.action_type = action_type
        return rule


# The columns of a rule the decision reads, in the order of _situation_sql's select.
_RULE_COLUMNS = [
    "id",
    "always_allow",
    "window_seconds",
    "breaker_factor",
    "breaker_floor",
    "cap",
    "over_cap",
    "unreachable",
    "hold_minutes",
    "expire_to",
    "baseline",
    "baseline_at",
    "tripped_at",
]


def _situation_sql() -> str:
    """One query for everything a decision reads before it counts: the action type, its
    rule, the system's mode, its first open SEV1/SEV2 incident and its first open incident.
    Plain SQL: the ORM's compiling of three joined querysets cost more than the queries."""
    q = connection.ops.quote_name
    incident, link = Incident._meta.db_table, Incident.systems.through._meta.db_table
    opened = ", ".join(f"'{status}'" for status in Incident.Status.open_values())
    rule_columns = ", ".join(f"r.{q(c)}" for c in _RULE_COLUMNS)

    def first_incident(column: str, severe: bool) -> str:
        return (
            f"(SELECT i.{column} FROM {q(incident)} i JOIN {q(link)} l ON l.incident_id = i.id "  # noqa: S608 - our own names
            f"WHERE l.aisystem_id = a.system_id AND i.status IN ({opened})"
            + (" AND i.severity IN ('SEV1', 'SEV2')" if severe else "")
            + " ORDER BY i.declared_at LIMIT 1)"
        )

    return (
        f"SELECT a.id, a.reversible, m.mode, {first_incident('number', True)}, "  # noqa: S608 - our own names
        f"{first_incident('id', False)}, {rule_columns} "
        f"FROM {q(ActionType._meta.db_table)} a "
        f"LEFT JOIN {q(GateRule._meta.db_table)} r ON r.action_type_id = a.id "
        f"LEFT JOIN {q(RuntimeMode._meta.db_table)} m ON m.system_id = a.system_id "
        "WHERE a.system_id = %s AND a.name = %s"
    )


def _situation(system_id: int, action: str):
    """(action type, rule, mode, severe incident number, first open incident id) or None."""
    with connection.cursor() as cursor:
        cursor.execute(_situation_sql(), [system_id, action])
        row = cursor.fetchone()
    if row is None:
        return None
    action_type_id, reversible, mode, severe, incident_id, *rule_values = row
    action_type = ActionType(
        pk=action_type_id, system_id=system_id, name=action, reversible=reversible
    )
    if rule_values[0] is None:  # no rule yet: the first request makes it
        rule = _rule_for(ActionType.objects.select_related("gate_rule").get(pk=action_type_id))
    else:
        rule = GateRule(action_type=action_type, system_id=system_id)
        for name, value in zip(_RULE_COLUMNS, rule_values, strict=True):
            if name.endswith("_at"):  # SQLite hands back text; PostgreSQL a datetime
                value = GateRule._meta.get_field(name).to_python(value)
            setattr(rule, name, value)
    return action_type, rule, mode or Mode.AI, severe, incident_id


def _count(
    action_type_id: int, start: int, *, allow: bool | None, most: int | None, cap: int | None
) -> tuple[int, int, bool]:
    """Count one more request in the window, in one statement that locks the window's row
    while it runs, and answer (requests, this one included; allowed before it; whether it
    was allowed). `allow` is the answer when it is already known; None lets the counter
    decide (`rules.room`): allowed while requests ≤ `most` and allowed so far < `cap`.

    The SET expressions all read the row as it was before this statement (PostgreSQL and
    SQLite alike), and concurrent statements on the row wait for each other, so of any
    number of requests at once exactly `cap` are allowed."""
    table = connection.ops.quote_name(GateCounter._meta.db_table)
    if allow is None:
        terms, params = [], []
        if most is not None:
            terms.append("c.requests + 1 <= %s")
            params.append(most)
        if cap is not None:
            terms.append("c.allowed < %s")
            params.append(cap)
        room = " AND ".join(terms) or "1 = 1"
        first = (most is None or most >= 1) and (cap is None or cap >= 1)
    else:
        room, params, first = ("1 = 1" if allow else "1 = 0"), [], allow
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} AS c "  # noqa: S608 - a quoted table name, fixed terms
            "(action_type_id, window_start, requests, allowed, denied, last_allowed) "
            "VALUES (%s, %s, 1, %s, 0, %s) "
            "ON CONFLICT (action_type_id, window_start) DO UPDATE SET "
            "requests = c.requests + 1, "
            f"allowed = c.allowed + CASE WHEN {room} THEN 1 ELSE 0 END, "
            f"last_allowed = CASE WHEN {room} THEN %s ELSE %s END "
            "RETURNING requests, allowed, last_allowed",
            [action_type_id, start, int(first), first, *params, *params, True, False],
        )
        requests, allowed, allowed_now = cursor.fetchone()
    allowed_now = bool(allowed_now)
    return requests, allowed - allowed_now, allowed_now


def gate_decide(
    *, system_id: int, action: str, subject: str, event_id: str = "", now: datetime | None = None
) -> tuple[rules.Decision, Hold | None]:
    """Answer an AI system asking before an action: the decision and, if held, the hold.
    Two statements for an allow (the read, the counting), one more for a hold."""
    now = now or timezone.now()
    found = _situation(system_id, action)
    if found is None:
        raise GateError(f"“{action}” is not in this system's action catalog.", "action")
    action_type, rule, mode, severe, incident_id = found
    if rule.baseline_at is None:
        baseline_refresh(rule=rule, now=now)
    spec = rule.as_rule()
    start = rules.window_start(now.timestamp(), spec.window_seconds)
    known = rules.Situation(
        mode=mode,
        severe_incident=severe,
        requests=1,
        allowed=0,
        baseline=rule.baseline,
        tripped=rule.tripped_at is not None,
    )
    allow = None
    if rules.decided_before_counting(spec, known):
        allow = rules.decide(spec, known, action).decision == rules.ALLOW
    most, cap = rules.room(spec, rule.baseline)
    requests, allowed, allowed_now = _count(action_type.pk, start, allow=allow, most=most, cap=cap)
    decision = rules.decide(
        spec, dataclasses.replace(known, requests=requests, allowed=allowed), action
    )
    if (decision.decision == rules.ALLOW) != allowed_now:  # cannot happen: same bounds
        logger.error("Gate counted %s but decided %s", allowed_now, decision)
        decision = rules.Decision(rules.HOLD, "error", "The gate's count and rules disagree.")
    hold = None
    with transaction.atomic():
        if decision.decision == rules.HOLD:
            hold = Hold.objects.create(
                system_id=system_id,
                action_type=action_type,
                subject=subject,
                event_id=event_id,
                cause=decision.cause,
                reason=decision.reason[:300],
                incident_id=incident_id,
                created_at=now,
                expires_at=now + timedelta(minutes=rule.hold_minutes),
                expires_to=rule.expire_to,
            )
        elif decision.decision == rules.DENY:
            GateCounter.objects.filter(action_type_id=action_type.pk, window_start=start).update(
                denied=F("denied") + 1
            )
        if decision.trips:
            _breaker_trip(rule, requests=requests, now=now)
    return decision, hold


def _breaker_trip(rule: GateRule, *, requests: int, now: datetime) -> None:
    """The first request over the limit opens the breaker; its alert is owed (due work)."""
    evidence = {
        "kind": "breaker",
        "action": rule.action,
        "window_seconds": rule.window_seconds,
        "requests": requests,
        "current": requests,
        "baseline": rule.baseline,
        "factor": rule.breaker_factor,
        "threshold": rule.limit,
        "onset": now.isoformat(),
    }
    claimed = GateRule.objects.filter(pk=rule.pk, tripped_at=None).update(
        tripped_at=now, trip_evidence=evidence, alerted_at=None
    )
    if not claimed:
        return  # a concurrent request tripped it first
    audit_record(
        actor=None,
        verb="gate.breaker_trip",
        target=rule,
        after=evidence,
        reason=f"{requests} requests in {rule.window_seconds} s, over the limit of {rule.limit}.",
    )
    transaction.on_commit(lambda: _queue_alert(rule.pk))


def _queue_alert(rule_id: int) -> None:
    from gate.tasks import breaker_alert

    try:
        breaker_alert.delay(rule_id)
    except Exception:  # the broker is away: the sweep raises the owed alert instead
        logger.warning("Could not queue the breaker alert of rule %s", rule_id, exc_info=True)


# --- The baseline ----------------------------------------------------------------------------


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


# --- The owner's rules -----------------------------------------------------------------------


def _rule_check(action_type: ActionType, fields: dict) -> None:
    if fields.get("always_allow") and not action_type.reversible:
        raise GateError(
            f"{action_type.name} cannot be undone: it cannot be always allowed.", "always_allow"
        )
    window = fields.get("window_seconds")
    if window is not None and not 10 <= window <= 3600:
        raise GateError("Between 10 and 3600 seconds.", "window_seconds")
    factor = fields.get("breaker_factor")
    if factor is not None and factor < 1:
        raise GateError("At least 1 (the baseline itself).", "breaker_factor")
    if fields.get("hold_minutes") is not None and not 1 <= fields["hold_minutes"] <= 7 * 24 * 60:
        raise GateError("Between 1 minute and 7 days.", "hold_minutes")


@transaction.atomic
def gate_rule_set(*, actor, action_type: ActionType, reason: str = "", **fields) -> GateRule:
    """The owner (or a responder) sets the gate's rule for one action type."""
    require(actor, "gate.manage", action_type.system)
    unknown = set(fields) - set(RULE_FIELDS)
    if unknown:
        raise GateError(f"Unknown field {sorted(unknown)[0]}.", sorted(unknown)[0])
    _rule_check(action_type, fields)
    rule = GateRule.objects.select_for_update().filter(action_type=action_type).first()
    if rule is None:
        rule = GateRule.objects.create(action_type=action_type, system_id=action_type.system_id)
    rule.action_type = action_type
    before = snapshot(rule, RULE_FIELDS)
    for name, value in fields.items():
        setattr(rule, name, value)
    window_changed = before["window_seconds"] != rule.window_seconds
    if window_changed:
        rule.baseline_at = None  # per window: recomputed at the next request
    rule.save()
    audit_record(
        actor=actor,
        verb="gate.rule_set",
        target=rule,
        before=before,
        after=snapshot(rule, RULE_FIELDS),
        reason=reason,
    )
    return rule


@transaction.atomic
def breaker_reset(*, actor, rule: GateRule, reason: str, now: datetime | None = None) -> bool:
    """A person closes the breaker by hand (it re-trips on the next request over the limit)."""
    require(actor, "gate.manage", rule.system)
    if not reason.strip():
        raise GateError("Say why the breaker can close.", "reason")
    return _breaker_close(rule, actor=actor, reason=reason.strip(), now=now or timezone.now())


def _breaker_close(rule: GateRule, *, actor, reason: str, now: datetime) -> bool:
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
    _alert_resolve_owed(rule, now)
    return True


# --- The breaker's alert (due work) ------------------------------------------------------------


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
    from monitoring.services import alert_raise

    now = now or timezone.now()
    with transaction.atomic():
        if not GateRule.objects.filter(
            pk=rule_id, tripped_at__isnull=False, alerted_at=None
        ).update(alerted_at=now):
            return None
        rule = GateRule.objects.select_related("action_type", "system").get(pk=rule_id)
        monitor = breaker_monitor(rule)
        return alert_raise(monitor=monitor, evidence=rule.trip_evidence, now=now)


def _alert_resolve_owed(rule: GateRule, now: datetime) -> None:
    from monitoring.services import alert_resolve

    if GateRule.objects.filter(pk=rule.pk, tripped_at=None, alerted_at__isnull=False).update(
        alerted_at=None
    ):
        alert_resolve(monitor=breaker_monitor(rule), now=now)


# --- People's decisions on holds ---------------------------------------------------------------


def _claim(ids: list[int], *, status: str | None, now: datetime, user_id, reason: str):
    """`UPDATE … WHERE id IN (…) AND status = 'pending' RETURNING id`: the holds this call
    decided; any another process decided first are left alone. `status` None: expiry (each
    hold to its own declared outcome)."""
    table = connection.ops.quote_name(Hold._meta.db_table)
    claimed = []
    for offset in range(0, len(ids), CLAIM_CHUNK):
        chunk = ids[offset : offset + CLAIM_CHUNK]
        marks = ", ".join(["%s"] * len(chunk))
        if status is None:
            sets = (
                "status = CASE expires_to WHEN 'approve' THEN 'approved' ELSE 'rejected' END, "
                "expired = %s, decided_at = %s, decision_reason = %s"
            )
            params = [True, now, reason]
            due = " AND expires_at <= %s"
            params_due = [now]
        else:
            sets = "status = %s, decided_at = %s, decided_by_id = %s, decision_reason = %s"
            params = [status, now, user_id, reason]
            due, params_due = "", []
        with connection.cursor() as cursor:
            cursor.execute(
                f"UPDATE {table} SET {sets} WHERE id IN ({marks}) AND status = 'pending'{due} "  # noqa: S608 - placeholders only
                "RETURNING id",
                [*params, *chunk, *params_due],
            )
            claimed += [row[0] for row in cursor.fetchall()]
    return claimed


def _record(holds, *, actor, verb: str, reason: str, now: datetime) -> None:
    """Each decided hold audited; one line per action type on the timeline of every open
    incident of the holds' systems (as a mode change or a deployment is)."""
    by_system: dict = {}
    for hold in holds:
        audit_record(
            actor=actor,
            verb=verb,
            target=hold,
            before={"status": Hold.Status.PENDING},
            after={"status": hold.status, "expired": hold.expired},
            reason=reason,
        )
        key = (hold.action_type.name, hold.status)
        by_system.setdefault(hold.system_id, {}).setdefault(key, 0)
        by_system[hold.system_id][key] += 1
    if not by_system:
        return
    open_incidents = Incident.objects.filter(
        systems__in=list(by_system), status__in=Incident.Status.open_values()
    ).prefetch_related("systems")
    for incident in open_incidents.distinct():
        counts: dict = {}
        for system in incident.systems.all():
            for key, n in by_system.get(system.pk, {}).items():
                counts[key] = counts.get(key, 0) + n
        for (action, status), n in sorted(counts.items()):
            how = f"expired to {status}" if verb == "hold.expire" else status
            timeline_record(
                incident=incident,
                kind=TimelineEntry.Kind.GATE,
                actor=actor,
                at=now,
                text=f"{n} held {action} action{'s' if n != 1 else ''} {how}"
                + (f": {reason}" if reason else "."),
                data={"holds": n, "action": action, "status": status},
            )


def holds_decide(*, actor, holds, outcome: str, reason: str, now: datetime | None = None) -> int:
    """Approve or reject held actions, one or many (`holds`: a queryset, e.g. the queue
    filtered by system, action type and incident window). Only pending ones change; the
    answer is how many this call decided."""
    require(actor, "hold.decide")
    if outcome not in rules.OUTCOME_STATUS:
        raise GateError("Approve or reject.", "outcome")
    if not reason.strip():
        raise GateError("Say why: the AI system's owner and the postmortem will read it.", "reason")
    now = now or timezone.now()
    status = rules.OUTCOME_STATUS[outcome]
    ids = list(holds.filter(status=Hold.Status.PENDING).values_list("pk", flat=True))
    with transaction.atomic():
        claimed = _claim(ids, status=status, now=now, user_id=actor.pk, reason=reason.strip())
        decided = Hold.objects.filter(pk__in=claimed).select_related("action_type")
        _record(decided, actor=actor, verb=f"hold.{outcome}", reason=reason.strip(), now=now)
    return len(claimed)


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
        claimed = _claim(ids, status=None, now=now, user_id=None, reason=reason)
        decided = Hold.objects.filter(pk__in=claimed).select_related("action_type")
        _record(decided, actor=None, verb="hold.expire", reason=reason, now=now)
    return len(claimed)


# --- The sweep -------------------------------------------------------------------------------


def breakers_check(now: datetime | None = None) -> int:
    """Close each open breaker whose last whole window since the trip stayed within its
    limit; resolve the alerts of closed ones. Answers how many closed."""
    now = now or timezone.now()
    closed = 0
    for rule in GateRule.objects.filter(tripped_at__isnull=False).select_related("action_type"):
        spec = rule.as_rule()
        current = rules.window_start(now.timestamp(), spec.window_seconds)
        last = current - spec.window_seconds
        if last <= rules.window_start(rule.tripped_at.timestamp(), spec.window_seconds):
            continue  # no whole window since the one that tripped it
        requests = (
            GateCounter.objects.filter(action_type_id=rule.action_type_id, window_start=last)
            .values_list("requests", flat=True)
            .first()
            or 0
        )
        if rules.breaker_resets(requests, spec, rule.baseline):
            with transaction.atomic():
                closed += _breaker_close(
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
            _alert_resolve_owed(rule, now)
    stale = now - BASELINE_REFRESH
    for rule in GateRule.objects.filter(tripped_at=None, baseline_at__lt=stale).select_related(
        "action_type"
    ):
        baseline_refresh(rule=rule, now=now)
    cutoff = rules.window_start((now - timedelta(days=COUNTER_DAYS)).timestamp(), 60)
    GateCounter.objects.filter(window_start__lt=cutoff).delete()
    return {"expired": expired, "breakers_closed": closed, "alerts": raised}
