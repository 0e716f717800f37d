from collections import defaultdict
from datetime import UTC, timedelta

from django.db.models import Prefetch, Q
from django.utils import timezone

from comms import obligation, wording
from comms.models import (
    CommApproval,
    CommDecision,
    CommTemplate,
    Communication,
    CommVersion,
    RoomPresence,
    StatusUpdate,
)
from incidents.models import Incident
from monitoring.selectors.incident import affected, blast_radius
from rollbacks.models import Deployment
from systems.models import Mode, ModeChange

# A room connection that has not pinged for this long is taken to be gone.
PRESENCE_TIMEOUT = timedelta(seconds=90)


def room_people(incident_id: int) -> list[str]:
    """Who has the incident page open right now."""
    fresh = timezone.now() - PRESENCE_TIMEOUT
    names = RoomPresence.objects.filter(incident_id=incident_id, seen_at__gte=fresh).values_list(
        "user__username", flat=True
    )
    return sorted(set(names))


def latest_status_update(incident) -> StatusUpdate | None:
    return StatusUpdate.objects.filter(incident=incident).select_related("author").first()


# --- External communication ------------------------------------------------------------

# The public status page lists incidents communicated in this period, and any still open.
STATUS_RECENT = timedelta(days=90)
STATUS_LIMIT = 200
FEED_LIMIT = 50

_HARM_WORDS = {
    "harmful": "made decisions that could harm the people they concerned",
    "wrong": "made wrong decisions",
    "anomalous": "behaved differently from normal",
}
_MODE_WORDS = {
    Mode.OFF: "we switched {system} off",
    Mode.HUMAN: "our staff took over the work of {system}",
    Mode.DEGRADED: "we switched {system} to a simpler, predictable way of working",
}


def spoken_time(value) -> str:
    """12 May 2026 at 14:05 UTC: how a message to the public gives a time."""
    value = timezone.localtime(value, UTC)
    return f"{value.day} {value:%B %Y at %H:%M} UTC"


def _users_reached(incident, radius=None) -> int:
    if incident.severity not in ("SEV1", "SEV2"):
        return 0  # nothing is owed whatever the reach: spare the events query
    radius = radius if radius is not None else blast_radius(incident)
    return radius["user_visible"]


def obligation_for(incident, *, radius=None) -> obligation.Obligation:
    """What the incident owes the people it reached, and what has met it (comms/obligation.py).

    `radius` is the blast radius when the caller already has it."""
    published_at = (
        Communication.objects.filter(incident=incident, published_at__isnull=False)
        .order_by("published_at")
        .values_list("published_at", flat=True)
        .first()
    )
    latest = (
        CommDecision.objects.filter(incident=incident)
        .select_related("by")
        .order_by("-at", "-id")
        .first()
    )
    decision = None
    if latest is not None:
        decision = obligation.Decision(
            outcome=latest.outcome,
            level=latest.level,
            severity=latest.severity,
            by=latest.by.get_username(),
            at=latest.at,
            reason=latest.reason,
        )
    return obligation.obligation_of(
        severity=incident.severity,
        users_reached=_users_reached(incident, radius),
        published_at=published_at,
        decision=decision,
    )


def communication_facts(incident, *, radius=None, now=None) -> dict[str, str]:
    """The incident as a message to the public puts it: the placeholders' values."""
    now = now or timezone.now()
    radius = radius if radius is not None else blast_radius(incident, now)
    systems = list(incident.systems.all())
    names = wording.joined([s.name for s in systems])
    start = min(radius["since"], incident.declared_at)
    end = incident.resolved_at or now
    first_move = (
        ModeChange.objects.filter(system__in=systems, at__gte=start, at__lte=end, drill=False)
        .exclude(mode=Mode.AI)
        .select_related("system")
        .order_by("at")
        .first()
    )
    if first_move is not None:
        move = _MODE_WORDS[Mode(first_move.mode)].format(system=first_move.system.name)
        containment = f"At {spoken_time(first_move.at)}, {move}."
    elif incident.contained_at:
        containment = f"At {spoken_time(incident.contained_at)}, we stopped the problem."
    else:
        containment = "We are working to stop the problem and will post an update."
    rollbacks = list(
        Deployment.objects.filter(
            system__in=systems, kind=Deployment.Kind.ROLLBACK, at__gte=start, at__lte=end
        )
        .select_related("system")
        .order_by("at")
    )
    rollback = " ".join(
        f"At {spoken_time(r.at)}, we restored the previous version of {r.system.name}."
        for r in rollbacks[:3]
    )
    seen = [(row["type"], row["count"]) for row in radius["actions"] if row["user_visible"]]
    until = incident.contained_at or incident.resolved_at
    return {
        "system": names,
        "onset": spoken_time(radius["since"]),
        "until": spoken_time(until) if until else "now",
        "went_wrong": _HARM_WORDS.get(incident.harm, "did not work as it should"),
        "customers": str(radius["subjects"]),
        "outputs": str(radius["outputs"]),
        "actions": wording.counted(seen) or "nothing that you would have seen",
        "containment": containment,
        "rollback": rollback,
        "now": spoken_time(now),
    }


def comm_templates_for(incident) -> list[CommTemplate]:
    return list(
        CommTemplate.objects.filter(system__in=incident.systems.all())
        .select_related("system")
        .order_by("system__name", "name")
    )


def prefill(incident, *, source: dict | None = None, radius=None) -> dict[str, str]:
    """A new draft's words: `source` (a template's parts, or the default wording) filled
    with the incident's facts. Without a source: the first template of the incident's
    systems, or the default wording when they have none."""
    if source is None:
        first = next(iter(comm_templates_for(incident)), None)
        source = first.parts if first else wording.DEFAULT
    return wording.fill_parts(source, communication_facts(incident, radius=radius))


def draft_of(incident) -> Communication | None:
    """The incident's unpublished communication (at most one), with its versions."""
    return (
        Communication.objects.filter(incident=incident, published_at=None)
        .prefetch_related(_versions())
        .first()
    )


def published_for(incident) -> list[Communication]:
    """The incident's published communications, newest first."""
    return list(
        Communication.objects.filter(incident=incident, published_at__isnull=False)
        .select_related("published_version", "published_by")
        .order_by("-published_at")
    )


def _versions():
    return Prefetch(
        "versions",
        queryset=CommVersion.objects.select_related("author")
        .prefetch_related(Prefetch("approvals", queryset=CommApproval.objects.select_related("by")))
        .order_by("-number"),
    )


def status_incidents(now=None) -> list[dict]:
    """The public status page: each communicated incident that is still open or had an
    update recently, with its published updates newest first. Only published words and
    times: never an incident's internal title, reference or anything unpublished."""
    now = now or timezone.now()
    published = (
        Communication.objects.filter(published_at__isnull=False)
        .filter(
            Q(published_at__gte=now - STATUS_RECENT)
            | Q(incident__status__in=Incident.Status.open_values())
        )
        .select_related("published_version", "incident")
        .order_by("-published_at", "-id")[:STATUS_LIMIT]
    )
    groups: dict[int, dict] = {}
    for communication in published:
        # Publishing sets the version and the time together; the guard is for the types.
        version = communication.published_version
        group = groups.setdefault(
            communication.incident_id,
            {
                "current": communication.incident.is_open,
                "anchor": communication.code,
                "headline": version.headline if version else "",
                "updated_at": communication.published_at,
                "updates": [],
            },
        )
        group["updates"].append(communication)
    return sorted(groups.values(), key=lambda g: (not g["current"], -g["updated_at"].timestamp()))


def feed_updates(limit: int = FEED_LIMIT) -> list[Communication]:
    return list(
        Communication.objects.filter(published_at__isnull=False)
        .select_related("published_version")
        .order_by("-published_at", "-id")[:limit]
    )


def notices(communication: Communication) -> list[dict]:
    """One row per affected subject of the communication's incident, for targeted
    notification: when they were affected, what fired for them, whether they saw it."""
    incident = communication.incident
    visible = {
        (system.slug, action.name)
        for system in incident.systems.all()
        for action in system.action_types.all()
        if action.user_visible
    }
    subjects: dict[str, dict] = {}
    for row in affected(incident):
        for subject in dict.fromkeys((row["subject"], row["action_subject"])):
            if not subject:
                continue
            found = subjects.setdefault(
                subject,
                {
                    "subject": subject,
                    "systems": set(),
                    "first_at": row["ts"],
                    "last_at": row["ts"],
                    "outputs": 0,
                    "actions": defaultdict(int),
                    "saw_an_action": False,
                    "_last_event": None,
                },
            )
            found["systems"].add(row["system"])
            found["last_at"] = row["ts"]
            if subject == row["subject"] and found["_last_event"] != row["event"]:
                found["outputs"] += 1
                found["_last_event"] = row["event"]
            if row["action"] and subject == (row["action_subject"] or row["subject"]):
                found["actions"][row["action"]] += 1
                if (row["system"], row["action"]) in visible:
                    found["saw_an_action"] = True
    return [
        {
            **{k: v for k, v in found.items() if not k.startswith("_")},
            "systems": sorted(found["systems"]),
            "actions": sorted(found["actions"].items()),
        }
        for found in subjects.values()
    ]
