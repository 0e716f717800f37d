"""Readiness: the artifacts that must exist before a system's first incident.

The playbook: "Incident response is almost entirely a readiness problem disguised as a
real-time one." Each check names one artifact and what is missing; the score is the share
that passes. Pure: it reads only what is already loaded on the system.
"""

from dataclasses import dataclass
from datetime import timedelta

from django.utils import timezone

# A drill older than this no longer proves the switch reaches what runs today.
DRILL_FRESH_FOR = timedelta(days=90)


@dataclass(frozen=True)
class Check:
    name: str
    passed: bool
    advice: str


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


def readiness_of(system, now=None) -> Readiness:
    """`system.last_drill_at` comes annotated by the selector (None: never drilled)."""
    now = now or timezone.now()
    actions = list(system.action_types.all())
    last_drill_at = getattr(system, "last_drill_at", None)
    active_tokens = [t for t in system.tokens.all() if t.is_active]
    return Readiness(
        checks=[
            Check(
                "Named owner",
                system.owner_id is not None and system.owner.is_active,
                "Name an active owner: an artifact no one owns is one no one maintains.",
            ),
            Check(
                "Runbook written",
                system.runbook is not None,
                "Write the runbook a stressed responder can follow without improvising.",
            ),
            Check(
                "Downstream actions catalogued",
                bool(actions),
                "List what the outputs set off, and whether each can be undone.",
            ),
            Check(
                "Degraded behaviour declared",
                bool(system.degraded_behaviour.strip()),
                "Say what the simpler, predictable fallback does.",
            ),
            Check(
                "Human fallback path",
                system.has_human_fallback,
                "Keep a way to route the work to people; without it, the only stop is off.",
            ),
            Check(
                "Reports to Failsafe",
                bool(active_tokens),
                "Issue a token so the system can read its mode and report its outputs.",
            ),
            Check(
                "Kill switch drilled",
                last_drill_at is not None and now - last_drill_at <= DRILL_FRESH_FOR,
                "Run a kill-switch drill from the system page: prove the switch reaches the "
                "running system, at least every 90 days.",
            ),
        ]
    )
