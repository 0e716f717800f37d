"""Readiness: the artifacts that must exist before a system's first incident.

Most of a response is decided before the incident starts (docs/GLOSSARY.md, "readiness").
Each check is a fact read from the database, never a box someone ticked:
a runbook counts once it was revised or marked reviewed lately, a drill once a running
client acknowledged it, sampling once its queue keeps up. A check that fails says what is
missing in words and links to the page that fixes it; the score is the share that passes.

Pure: it reads only what `response.selectors.system_list_for_readiness` loaded (annotations,
the owner, the review plan, the active versions), and `now` is a parameter.
"""

from dataclasses import dataclass
from datetime import timedelta

from django.urls import reverse
from django.utils import timezone

from rollbacks.models import Surface

# A runbook nobody has revised or confirmed for this long no longer describes the system.
RUNBOOK_FRESH_FOR = timedelta(days=90)
# A drill older than this no longer proves the switch reaches what runs today.
DRILL_FRESH_FOR = timedelta(days=90)
# A system that has sent nothing for this long is not reporting, whatever its tokens.
REPORTS_WITHIN = timedelta(hours=24)
# The review queue keeps up when it holds at most this many days of the plan's daily
# target, and nothing has waited longer than QUEUE_MAX_WAIT.
QUEUE_MAX_BACKLOG_DAYS = 2
QUEUE_MAX_WAIT = timedelta(hours=48)


@dataclass(frozen=True)
class Check:
    name: str
    passed: bool
    # The evidence when it passes, the gap in words when it does not.
    detail: str
    # The link that fixes the gap: its words and its address (page and anchor).
    fix: str = ""
    url: str = ""


@dataclass(frozen=True)
class Readiness:
    checks: list[Check]

    @property
    def score(self) -> int:
        """Percent of checks that pass."""
        return round(100 * sum(c.passed for c in self.checks) / len(self.checks))

    @property
    def missing(self) -> list[Check]:
        return [c for c in self.checks if not c.passed]


def _duration(delta: timedelta) -> str:
    if delta < timedelta(hours=1):
        return "less than an hour"
    if delta < timedelta(days=3):  # hours, to compare with the 24- and 48-hour rules
        return _plural(int(delta.total_seconds() // 3600), "hour")
    return f"{delta.days} days"


def _ago(delta: timedelta) -> str:
    return f"{_duration(delta)} ago"


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'s' if n != 1 else ''}"


def readiness_of(system, now=None) -> Readiness:
    now = now or timezone.now()
    page = system.get_absolute_url()
    checks = [
        _owner(system),
        _runbook(system, now, page),
        _drill(system, now, page),
        _human_fallback(system),
        _surfaces(system),
        _monitors(system),
        _ground_truth(system, now),
        _comm_template(system),
        _gated(system),
        _catalog(system, page),
        _degraded(system),
        _reports(system, now, page),
    ]
    return Readiness(checks=checks)


def _edit(system) -> str:
    return reverse("systems:edit", args=[system.slug])


def _owner(system) -> Check:
    owner = system.owner
    name = owner.get_full_name() or owner.username
    return Check(
        "Named owner",
        owner.is_active,
        name if owner.is_active else f"{name} is deactivated: nobody maintains it.",
        "Name an active owner",
        _edit(system),
    )


def _runbook(system, now, page) -> Check:
    name = "Runbook reviewed in the last 90 days"
    if system.runbook_number is None:
        return Check(
            name,
            False,
            "No runbook: a stressed responder would have to improvise.",
            "Write the runbook",
            reverse("systems:runbook", args=[system.slug]),
        )
    # A new revision is a review too.
    reviewed_at = max(filter(None, [system.runbook_revised_at, system.runbook_reviewed_at]))
    age = now - reviewed_at
    if age <= RUNBOOK_FRESH_FOR:
        return Check(name, True, f"v{system.runbook_number}, reviewed {_ago(age)}.")
    return Check(
        name,
        False,
        f"v{system.runbook_number} was last revised or reviewed {_ago(age)}: check that it "
        "still matches the system.",
        "Review the runbook",
        f"{page}#runbook",
    )


def _drill(system, now, page) -> Check:
    name = "Kill switch drilled, acknowledged by a client, in the last 90 days"
    fix, url = "Run a drill", f"{page}#mode"
    acked_at, drilled_at = system.last_acked_drill_at, system.last_drill_at
    if acked_at is not None and now - acked_at <= DRILL_FRESH_FOR:
        return Check(name, True, f"A running client acknowledged the drill {_ago(now - acked_at)}.")
    if drilled_at is None:
        gap = "Never drilled: nothing proves the switch reaches the running system."
    elif now - drilled_at <= DRILL_FRESH_FOR:
        gap = (
            f"The drill {_ago(now - drilled_at)} reached no client: connect the SDK, "
            "then drill again."
        )
    else:
        gap = f"Last drilled {_ago(now - drilled_at)}: prove it still reaches what runs today."
    return Check(name, False, gap, fix, url)


def _human_fallback(system) -> Check:
    described = system.human_fallback.strip()
    if system.has_human_fallback and described:
        return Check("Human fallback declared", True, described)
    gap = (
        "It says work can go to people, but not where or to whom."
        if system.has_human_fallback
        else "No way to route the work to people: the kill switch is the only stop."
    )
    return Check("Human fallback declared", False, gap, "Declare the human fallback", _edit(system))


def _catalog(system, page) -> Check:
    listed = system.has_action_types
    return Check(
        "Downstream actions catalogued",
        listed,
        "What its outputs set off is listed, each reversible or not."
        if listed
        else "Nobody has listed what its outputs set off, or whether each can be undone.",
        "List its actions",
        f"{page}#catalog",
    )


def _degraded(system) -> Check:
    declared = bool(system.degraded_behaviour.strip())
    return Check(
        "Degraded behaviour declared",
        declared,
        system.degraded_behaviour.strip()
        or "Nobody has said what the simpler, predictable path does.",
        "Declare the degraded behaviour",
        _edit(system),
    )


def _surfaces(system) -> Check:
    name = "Every surface versioned, the model pinned"
    versions = reverse("rollbacks:versions", args=[system.slug])
    active = {a.surface: a for a in system.active_versions.all()}
    unversioned = [s for s in Surface if s not in active]
    model = active.get(Surface.MODEL)
    gaps = []
    if unversioned:
        labels = ", ".join(s.label.lower() for s in unversioned)
        gaps.append(f"Nothing deployed for: {labels}; a rollback there has nothing to go back to.")
    if model is not None and not (model.pinned_id or "").strip():
        gaps.append(f"The active model v{model.number} is not pinned to an exact version id.")
    if not gaps and model is not None:
        pinned = f"model {model.pinned_id}"
        return Check(name, True, f"Model, prompt, retrieval and configuration; {pinned}.")
    first = unversioned[0] if unversioned else Surface.MODEL
    return Check(name, False, " ".join(gaps), "Open its versions", f"{versions}#surface-{first}")


def _monitors(system) -> Check:
    name = "Monitors with baselines"
    monitors = reverse("monitoring:monitors", args=[system.slug])
    ready, enabled = system.baselined_monitors, system.enabled_monitors
    if ready:
        return Check(name, True, f"{_plural(ready, 'monitor')} watching against a baseline.")
    if not enabled:
        return Check(
            name,
            False,
            "No enabled monitor: nothing watches what it produces.",
            "Add a monitor",
            monitors,
        )
    return Check(
        name,
        False,
        "Its monitor is still learning a baseline: it cannot alert yet."
        if enabled == 1
        else f"{enabled} monitors, all still learning a baseline: none can alert yet.",
        "See why they are learning",
        monitors,
    )


def _ground_truth(system, now) -> Check:
    name = "Ground truth sampled, the review queue within its target"
    plan = getattr(system, "review_plan", None)
    if plan is None or not plan.active or not plan.per_day:
        return Check(
            name,
            False,
            "Nobody reviews what it produces: its accuracy is unknown.",
            "Set a sampling plan",
            reverse("monitoring:monitors", args=[system.slug]) + "#plan-title",
        )
    queue = reverse("groundtruth:review") + f"?system={system.slug}"
    backlog, limit = system.review_backlog, QUEUE_MAX_BACKLOG_DAYS * plan.per_day
    oldest = system.review_oldest_at
    gaps = []
    if backlog > limit:
        gaps.append(
            f"{_plural(backlog, 'output')} waiting, more than {QUEUE_MAX_BACKLOG_DAYS} days of "
            f"its {plan.per_day}-a-day target ({limit})."
        )
    if oldest is not None and now - oldest > QUEUE_MAX_WAIT:
        gaps.append(f"The oldest has waited {_duration(now - oldest)} (48 hours at most).")
    if gaps:
        return Check(name, False, " ".join(gaps), "Work the review queue", queue)
    return Check(name, True, f"{plan.per_day} a day; {backlog} waiting.")


def _comm_template(system) -> Check:
    has = system.has_comm_template
    return Check(
        "Communication template",
        has,
        "A template for telling customers is ready."
        if has
        else "No template for telling customers: the first notice would be written under pressure.",
        "Write a template",
        reverse("comm-templates:list", args=[system.slug]),
    )


def _gated(system) -> Check:
    ungated = system.ungated_irreversible
    return Check(
        "Irreversible actions gated",
        not ungated,
        "Every action that cannot be undone asks the action gate first."
        if not ungated
        else f"{ungated} irreversible action type{'s' if ungated > 1 else ''} without a gate "
        "rule: one wrong output could set off thousands of them.",
        "Set gate rules",
        reverse("gate:rules", args=[system.slug]),
    )


def _reports(system, now, page) -> Check:
    name = "Reports to Failsafe"
    if not system.has_active_token:
        return Check(
            name,
            False,
            "No active token: it can neither read its mode nor report its outputs.",
            "Issue a token",
            f"{page}#tokens",
        )
    last = system.last_event_at
    if last is not None and now - last <= REPORTS_WITHIN:
        return Check(name, True, f"Last event {_ago(now - last)}.")
    since = f"the last one {_ago(now - last)}" if last else "none ever"
    return Check(
        name,
        False,
        f"No events in the last 24 hours ({since}): check its token's events:write scope "
        "and the SDK's record().",
        "Check its tokens",
        f"{page}#tokens",
    )
