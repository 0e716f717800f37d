"""Deciding a request: an AI system asks before an action, the gate answers allow, hold
or deny (`gate.rules`), and the first request over the limit trips the breaker.

A decision is a few queries: the action type with its rule and the system's mode, the
system's open incidents, and one transaction that row-locks the window's counter (an
upsert that returns it), decides with `gate.rules`, counts the answer and, for a hold,
writes the hold. Requests for one action decide one after another on that lock, so the
cap is never exceeded however many arrive at once.
"""

import dataclasses
import functools
import logging
from datetime import datetime, timedelta

from django.db import connection, models, transaction
from django.db.models import F
from django.utils import timezone

from core.services import audit_record
from gate import rules, tasks
from gate.errors import GateError
from gate.models import GateCounter, GateRule, Hold
from gate.services.breaker import baseline_refresh
from gate.services.rule_set import RULE_FIELDS
from incidents.models import Incident
from systems.models import ActionType, Mode, RuntimeMode

logger = logging.getLogger(__name__)


def _first_row(sql: str, params: list):
    """The first row of one of the decision's statements. On PostgreSQL it runs as a
    prepared statement of the connection, planned once per pooled connection rather than on
    every request: planning the situation query cost several times running it."""
    with connection.cursor() as cursor:  # Django's: it connects and knows the transaction
        if connection.vendor != "postgresql":
            cursor.execute(sql, params)
            return cursor.fetchone()
        import psycopg  # only installed where PostgreSQL is used

        with connection.wrap_database_errors, psycopg.Cursor(connection.connection) as bound:
            bound.execute(sql, params, prepare=True)
            return bound.fetchone()


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
_RULE_COLUMNS = ["id", *RULE_FIELDS, "baseline", "baseline_at", "tripped_at"]
# Reads the rule's *_at columns, all datetimes, whatever type the database hands back.
_DATETIME: models.DateTimeField = models.DateTimeField()


@functools.cache
def _situation_sql(vendor: str) -> str:
    """One query for everything a decision reads before it counts: the action type, its
    rule, the system's mode, its first open SEV1/SEV2 incident and its first open incident.

    Plain SQL because it is the hot path of every request: the ORM's compiling of three
    joined querysets cost more than the queries. "Open" is not spelled here: the statuses
    are `Incident.Status.open_values()`, the list `Incident.objects.open()` filters on.
    Built once per database vendor (`vendor` is only the cache's key)."""
    q = connection.ops.quote_name
    incident, link = Incident._meta.db_table, Incident.systems.through._meta.db_table
    opened = ", ".join(f"'{status}'" for status in Incident.Status.open_values())
    severe_values = ", ".join(f"'{s}'" for s in (Incident.Severity.SEV1, Incident.Severity.SEV2))
    rule_columns = ", ".join(f"r.{q(c)}" for c in _RULE_COLUMNS)

    def first_incident(column: str, severe: bool) -> str:
        return (
            f"(SELECT i.{column} FROM {q(incident)} i JOIN {q(link)} l ON l.incident_id = i.id "  # noqa: S608 - our own names
            f"WHERE l.aisystem_id = a.system_id AND i.status IN ({opened})"
            + (f" AND i.severity IN ({severe_values})" if severe else "")
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
    row = _first_row(_situation_sql(connection.vendor), [system_id, action])
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
                value = _DATETIME.to_python(value)
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
    requests, allowed, allowed_now = _first_row(
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
    """The first request over the limit opens the breaker; its alert is owed (due work).
    Here rather than in `breaker`: it queues `gate.tasks.breaker_alert`, which calls
    `breaker`, so `breaker` must not import the tasks."""
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
    try:
        tasks.breaker_alert.delay(rule_id)
    except Exception:  # the broker is away: the sweep raises the owed alert instead
        logger.warning("Could not queue the breaker alert of rule %s", rule_id, exc_info=True)
