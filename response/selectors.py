"""Reads that join every app: the systems list with its open incidents, and the facts
readiness scores, each in a constant number of queries."""

from django.db.models import Count, Exists, F, IntegerField, OuterRef, Prefetch, Q, Subquery
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Coalesce

from comms.models import CommTemplate
from groundtruth.models import ReviewItem
from incidents.models import Incident
from monitoring.models import Event, Monitor
from rollbacks.models import ActiveVersion
from systems.models import ActionType, AISystem, ModeAck, ModeChange, RunbookVersion, SystemToken
from systems.selectors import system_list


def system_list_with_open_incidents():
    """The systems list, each row with how many incidents of the system are open."""
    return system_list().annotate(
        open_incident_count=Count(
            "incidents",
            filter=Q(incidents__status__in=Incident.Status.open_values()),
            distinct=True,
        )
    )


def _count(queryset):
    """A correlated COUNT(*) of `queryset` (filtered on OuterRef) as one column, 0 if none."""
    counted = queryset.order_by().values("system").annotate(n=Count("pk")).values("n")
    return Coalesce(Subquery(counted, output_field=IntegerField()), 0)


def _latest(queryset, field: str, order_by: str):
    return Subquery(queryset.order_by(order_by).values(field)[:1])


def system_list_for_readiness():
    """Systems with every fact readiness_of() reads, in two queries whatever their number.

    Each fact is a correlated subquery (on an indexed column) rather than a join, so facts
    never multiply each other's rows; the active versions come in one prefetch.
    """
    own = {"system": OuterRef("pk")}
    drills = ModeChange.objects.filter(**own, drill=True)
    # A drill counts once at least one client acknowledged its revision (what the system
    # page shows as "n of m clients"): ModeAck keeps each client's first report of each.
    acked = ModeAck.objects.filter(system=OuterRef("system"), revision=OuterRef("revision"))
    waiting = ReviewItem.objects.filter(
        **own, status__in=[ReviewItem.Status.OPEN, ReviewItem.Status.DISPUTED]
    )
    monitors = Monitor.objects.filter(**own, enabled=True)
    facts = {
        "runbook_number": _latest(RunbookVersion.objects.filter(**own), "number", "-number"),
        "runbook_revised_at": _latest(
            RunbookVersion.objects.filter(**own), "created_at", "-number"
        ),
        "last_drill_at": _latest(drills, "at", "-revision"),
        "last_acked_drill_at": _latest(drills.filter(Exists(acked)), "at", "-revision"),
        "has_action_types": Exists(ActionType.objects.filter(**own)),
        "has_active_token": Exists(SystemToken.objects.filter(**own, revoked_at__isnull=True)),
        # Newest first on the (system, ts) index: one index probe per system.
        "last_event_at": _latest(Event.objects.filter(**own), "ts", "-ts"),
        "enabled_monitors": _count(monitors),
        "baselined_monitors": _count(monitors.exclude(status=Monitor.Status.LEARNING)),
        # The review_queue index (status, system, sampled_at) answers both.
        "review_backlog": _count(waiting),
        "review_oldest_at": _latest(waiting, "sampled_at", "sampled_at"),
        "has_comm_template": Exists(CommTemplate.objects.filter(system=OuterRef("pk"))),
        "ungated_irreversible": _count(
            ActionType.objects.filter(**own, reversible=False, gate_rule__isnull=True)
        ),
    }
    return (
        AISystem.objects.select_related("owner", "review_plan")
        .prefetch_related(
            Prefetch(
                "active_versions",
                queryset=ActiveVersion.objects.only("system_id", "surface").annotate(
                    number=F("version__number"),
                    pinned_id=KeyTextTransform("version_id", "version__content"),
                ),
            )
        )
        .annotate(**facts)
    )
