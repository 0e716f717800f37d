"""The communication obligation: what the severity and the reach say an incident owes the
people it reached, and whether what was done since meets it. Pure: no queries.

"Reached users" is one explicit test: at least one downstream action that the system's
catalog marks as seen by users fired in the incident's window, i.e.
`monitoring.selectors.incident.blast_radius(incident)["user_visible"] > 0`. Outputs that set off
nothing users see, and actions missing from the catalog, do not count.

- SEV1 that reached users: a communication is required. Only a published communication,
  or the lead's waiver with a reason, clears it.
- SEV2 that reached users: the lead decides either way (communicate, or not), with a reason.
- SEV3, unclassified, or no user reached: nothing is owed.

A decision keeps the level it was made at: a SEV2's "no communication" does not waive the
SEV1 the incident later becomes, so the obligation opens again.
"""

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any


class Level(StrEnum):
    NONE = "none"
    DECIDE = "decide"
    REQUIRED = "required"


class State(StrEnum):
    NONE = "none"  # nothing owed
    OPEN = "open"  # owed, and nothing has met it yet
    PUBLISHED = "published"  # a communication was published
    WAIVED = "waived"  # a SEV1's communication waived by the lead, with a reason
    DECIDED = "decided"  # a SEV2's decision recorded, either way


COMMUNICATE = "communicate"
NO_COMMUNICATION = "no_communication"


@dataclass(frozen=True)
class Decision:
    outcome: str  # COMMUNICATE or NO_COMMUNICATION
    level: str  # the Level when it was made
    severity: str
    by: str
    at: datetime
    reason: str

    @property
    def is_waiver(self) -> bool:
        return self.outcome == NO_COMMUNICATION and self.level == Level.REQUIRED


@dataclass(frozen=True)
class Obligation:
    level: Level
    state: State
    severity: str
    users_reached: int
    published_at: datetime | None = None
    decision: Decision | None = None

    @property
    def is_open(self) -> bool:
        return self.state == State.OPEN

    @property
    def why(self) -> str:
        """Why this level, in one sentence."""
        reach = (
            f"{self.users_reached} action{'s' if self.users_reached != 1 else ''} "
            "that users see fired"
            if self.users_reached
            else "no action that users see fired"
        )
        if self.level == Level.REQUIRED:
            return f"SEV1, and {reach}: the people reached are told what happened."
        if self.level == Level.DECIDE:
            return f"SEV2, and {reach}: the lead decides whether to tell them, and why."
        if not self.severity:
            return "Not classified yet: the severity decides what is owed."
        if self.severity == "SEV3":
            return "SEV3: no external communication is owed."
        return f"{self.severity}, and {reach}: no external communication is owed."


def level_for(severity: str, users_reached: int) -> Level:
    if users_reached > 0 and severity == "SEV1":
        return Level.REQUIRED
    if users_reached > 0 and severity == "SEV2":
        return Level.DECIDE
    return Level.NONE


def obligation_of(
    *,
    severity: str,
    users_reached: int,
    published_at: datetime | None = None,
    decision: Decision | None = None,
) -> Obligation:
    """The obligation now, from the severity, the reach, the first publication (if any)
    and the latest decision (if any)."""
    level = level_for(severity, users_reached)
    facts: dict[str, Any] = {
        "level": level,
        "severity": severity,
        "users_reached": users_reached,
        "published_at": published_at,
        "decision": decision,
    }
    if published_at is not None:
        return Obligation(state=State.PUBLISHED, **facts)
    if level == Level.REQUIRED:
        waived = decision is not None and decision.is_waiver
        return Obligation(state=State.WAIVED if waived else State.OPEN, **facts)
    if level == Level.DECIDE:
        return Obligation(state=State.DECIDED if decision else State.OPEN, **facts)
    return Obligation(state=State.NONE, **facts)


def may_decide(level: Level, outcome: str) -> str:
    """'' when the lead may record `outcome` at `level`; otherwise why not."""
    if level == Level.NONE:
        return "Nothing is owed here: there is no decision to record."
    if outcome not in (COMMUNICATE, NO_COMMUNICATION):
        return "Decide to communicate, or not to."
    if level == Level.REQUIRED and outcome == COMMUNICATE:
        return "A SEV1 that reached users is communicated: publish it, or waive it with a reason."
    return ""
