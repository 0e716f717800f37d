"""Reads of the gate: the held-actions queue, a system's rules, what an incident's gate stopped."""

from collections import defaultdict
from datetime import datetime

from django.db.models import Count, Q, Sum
from django.utils import timezone

from gate import rules
from gate.models import GateCounter, GateRule, Hold
from monitoring.selectors.incident import incident_window
from systems.models import ActionType


def holds_filtered(
    *, system: str = "", action: str = "", incident=None, status: str = Hold.Status.PENDING
):
    """Held actions, newest first: of one system (slug), one action type, within an
    incident's window (its systems, from onset to containment), in one status ("any")."""
    holds = Hold.objects.select_related("system", "action_type", "decided_by", "incident")
    if status and status != "any":
        holds = holds.filter(status=status)
    if system:
        holds = holds.filter(system__slug=system)
    if action:
        holds = holds.filter(action_type__name=action)
    if incident is not None:
        since, until = incident_window(incident)
        holds = holds.filter(
            system__in=incident.systems.all(), created_at__gte=since, created_at__lt=until
        )
    return holds.order_by("-created_at", "-id")


def hold_counts(holds) -> dict:
    """Pending holds by system and action type, for the queue's live summary."""
    rows = (
        holds.order_by()
        .values("system__slug", "system__name", "action_type__name")
        .annotate(n=Count("id"))
        .order_by("-n")
    )
    return {"rows": list(rows), "total": sum(r["n"] for r in rows)}


def system_rules(system, now: datetime | None = None) -> list[dict]:
    """Each action type of the catalog with its gate rule (or the defaults), its breaker's
    state and the current window's counts."""
    now = now or timezone.now()
    action_types = list(
        ActionType.objects.filter(system=system).select_related("gate_rule").order_by("name")
    )
    out = []
    for action_type in action_types:
        rule = getattr(action_type, "gate_rule", None)
        if rule is None:
            rule = GateRule(action_type=action_type, system=system)
        start = rules.window_start(now.timestamp(), rule.window_seconds)
        counter = GateCounter.objects.filter(action_type=action_type, window_start=start).first()
        pending = Hold.objects.filter(action_type=action_type, status=Hold.Status.PENDING).count()
        out.append(
            {
                "action_type": action_type,
                "rule": rule,
                "saved": rule.pk is not None,
                "limit": rule.limit,
                "counter": counter,
                "pending": pending,
            }
        )
    return out


def unreachable_defaults(system_id: int) -> list[dict]:
    """What the SDK needs to know ahead: each action type's answer when Failsafe is away."""
    found = []
    for action_type in ActionType.objects.filter(system_id=system_id).select_related("gate_rule"):
        rule = getattr(action_type, "gate_rule", None) or GateRule()
        found.append(
            {
                "action": action_type.name,
                "reversible": action_type.reversible,
                "unreachable": rule.unreachable,
                "always_allow": rule.always_allow and action_type.reversible,
            }
        )
    return found


def stopped(systems, since: datetime, until: datetime) -> dict:
    """What the gate stopped of these systems in a window: holds by action type and outcome,
    and outright denials. "312 account_hold stopped at the gate"."""
    holds = (
        Hold.objects.filter(system__in=systems, created_at__gte=since, created_at__lt=until)
        .values("action_type__name", "status")
        .annotate(n=Count("id"), expired=Count("id", filter=Q(expired=True)))
        .order_by()
    )
    by_action: dict = defaultdict(
        lambda: {"held": 0, "pending": 0, "approved": 0, "rejected": 0, "expired": 0, "denied": 0}
    )
    for row in holds:
        entry = by_action[row["action_type__name"]]
        entry["held"] += row["n"]
        entry[row["status"]] += row["n"]
        entry["expired"] += row["expired"]
    denied = (
        GateCounter.objects.filter(
            action_type__system__in=systems,
            window_start__gte=int(since.timestamp()) // 60 * 60,
            window_start__lt=until.timestamp(),
            denied__gt=0,
        )
        .values("action_type__name")
        .annotate(n=Sum("denied"))
    )
    for row in denied:
        by_action[row["action_type__name"]]["denied"] += row["n"]
    actions = [
        {"type": name, **counts, "stopped": counts["held"] + counts["denied"]}
        for name, counts in sorted(by_action.items(), key=lambda item: -item[1]["held"])
    ]
    return {"actions": actions, "total": sum(a["stopped"] for a in actions)}
