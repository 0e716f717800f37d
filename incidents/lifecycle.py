"""Which status an incident may move to next, and what each move needs. Pure rules.

triage → investigating → contained → mitigated → resolved → closed. An incident may go
straight from triage to contained (for a SEV1 that is the rule: contain first, diagnose
second), and back to investigating after containment; a resolved incident can be reopened
if the failure comes back. Closing needs the postmortem with an action item; a SEV3 that turns out
to be nothing may instead be closed as a benign shift, with a reason.
"""

from dataclasses import dataclass

from django.db import models


class Status(models.TextChoices):
    TRIAGE = "triage"
    INVESTIGATING = "investigating"
    CONTAINED = "contained"
    MITIGATED = "mitigated"
    RESOLVED = "resolved"
    CLOSED = "closed"

    @classmethod
    def open_values(cls) -> list[str]:
        return [cls.TRIAGE, cls.INVESTIGATING, cls.CONTAINED, cls.MITIGATED]


NEXT: dict[str, tuple[str, ...]] = {
    Status.TRIAGE: (Status.INVESTIGATING, Status.CONTAINED),
    Status.INVESTIGATING: (Status.CONTAINED, Status.MITIGATED, Status.RESOLVED),
    Status.CONTAINED: (Status.INVESTIGATING, Status.MITIGATED, Status.RESOLVED),
    Status.MITIGATED: (Status.RESOLVED,),
    Status.RESOLVED: (Status.CLOSED, Status.INVESTIGATING),
    Status.CLOSED: (),
}

# The verb on each button, in the responder's words.
ACTION_LABEL = {
    Status.INVESTIGATING: "Start investigating",
    Status.CONTAINED: "Mark contained",
    Status.MITIGATED: "Mark mitigated",
    Status.RESOLVED: "Resolve",
    Status.CLOSED: "Close",
}
REOPEN_LABEL = "Reopen"


class TransitionRefused(ValueError):
    """The move is not allowed; the message says why, in words for the person."""


@dataclass(frozen=True)
class Move:
    to: str
    label: str


def moves_from(status: str) -> list[Move]:
    moves = []
    for to in NEXT[Status(status)]:
        reopening = status == Status.RESOLVED and to == Status.INVESTIGATING
        moves.append(Move(to=to, label=REOPEN_LABEL if reopening else ACTION_LABEL[Status(to)]))
    return moves


def check_transition(
    *, current: str, to: str, severity: str, has_postmortem: bool, benign: bool, reason: str
) -> None:
    """Raise TransitionRefused unless the move from `current` to `to` is allowed."""
    if to not in Status.values:
        raise TransitionRefused(f"“{to}” is not a status.")
    if benign:
        if to != Status.CLOSED:
            raise TransitionRefused("Only closing can be benign.")
        if severity != "SEV3":
            raise TransitionRefused(
                "Only a SEV3 can be closed as a benign shift; a SEV1 or SEV2 had real harm."
            )
        if current not in (Status.TRIAGE, Status.INVESTIGATING):
            raise TransitionRefused("A benign shift is closed from triage or investigation.")
        if not reason.strip():
            raise TransitionRefused("Say why the shift is benign.")
        return
    if to not in NEXT[Status(current)]:
        raise TransitionRefused(f"An incident cannot go from {current} to {to}.")
    if to == Status.CLOSED and not has_postmortem:
        raise TransitionRefused(
            "Closing needs the postmortem with at least one action item: a postmortem "
            "without action items is documentation, not closure."
        )
    if current == Status.RESOLVED and to == Status.INVESTIGATING and not reason.strip():
        raise TransitionRefused("Say why the incident is reopened.")
