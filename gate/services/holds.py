"""People's decisions on held actions, and the claiming and recording every decision of a
hold shares (a person's here, expiry's in `gate.services.sweep`)."""

from datetime import datetime
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from core.permissions import require
from core.services import audit_record
from gate import rules
from gate.errors import GateError
from gate.models import Hold
from incidents.models import Incident, TimelineEntry
from incidents.services.timeline import timeline_record

# How many holds one statement claims (decisions and expiry).
CLAIM_CHUNK = 1000


def holds_claim(ids: list[int], *, status: str | None, now: datetime, user_id, reason: str):
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
            params: list[Any] = [True, now, reason]
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


def holds_record(holds, *, actor, verb: str, reason: str, now: datetime) -> None:
    """Each decided hold audited; one line per action type and outcome on the timeline of
    every open incident of the holds' systems (as a mode change or a deployment is), the
    counts of all its systems together."""
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
    for incident in Incident.objects.open_for(*by_system).prefetch_related("systems"):
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
        claimed = holds_claim(ids, status=status, now=now, user_id=actor.pk, reason=reason.strip())
        decided = Hold.objects.filter(pk__in=claimed).select_related("action_type")
        holds_record(decided, actor=actor, verb=f"hold.{outcome}", reason=reason.strip(), now=now)
    return len(claimed)
