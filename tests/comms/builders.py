"""Incidents whose events did or did not reach users, built from hand-made events (the
comms tests' fixtures and the browser test share them)."""

from datetime import timedelta

from django.utils import timezone

from incidents.services.incident import incident_declare
from monitoring.services.ingest import events_ingest
from tests.factories import ActionTypeFactory

# harm, irreversible actions → the severity the scale gives (docs/SEVERITY.md).
TRIAGE = {
    "SEV1": {"harm": "harmful", "irreversible_actions": True},
    "SEV2": {"harm": "wrong", "irreversible_actions": False},
    "SEV3": {"harm": "anomalous", "irreversible_actions": False},
}

PARTS = {
    "headline": "Some refund requests were wrongly put on hold",
    "happened": "Between 14:05 and 14:35 UTC our refund check put holds on accounts in error.",
    "consequence": "This affected 2 people, whose accounts were held.",
    "done": "At 14:35 UTC we switched the refund check off. Holds were lifted.",
    "advice": "You do not need to do anything. Contact support if your account is held.",
}


def catalog_for(system):
    """An account hold is seen by the customer; a queue for staff review is not."""
    ActionTypeFactory(system=system, name="account_hold", reversible=False, user_visible=True)
    ActionTypeFactory(system=system, name="review_queue", reversible=True, user_visible=False)


def _event(n, at, subject, actions=(), label="fraud"):
    return {
        "id": f"e-{n}",
        "ts": at.isoformat(),
        "output": {"label": label, "text": "flagged"},
        "subject": subject,
        "actions": [{"type": a, "subject": subject} for a in actions],
    }


def ingest(system, onset, *, reached: bool):
    """Six events in the incident's window, on alice (twice), bob, carol, dan and erin:
    three account holds (seen by users) when `reached`, else only staff review; and one
    event before the onset, outside the window."""
    during = onset + timedelta(minutes=5)
    action = "account_hold" if reached else "review_queue"
    events = [
        _event(1, onset - timedelta(minutes=10), "early", ["account_hold"]),
        _event(2, during, "alice", [action]),
        _event(3, during, "bob", [action, "review_queue"]),
        _event(4, during, "alice", [action]),
        _event(5, during, "carol", label="approve"),
        _event(6, during, "dan", ["review_queue"]),
        _event(7, during, "erin", label="approve"),
    ]
    events_ingest(system=system, payload={"events": events})


def incident_with_events(
    system, lead, severity="SEV1", *, reached=True, title="Fraud holds tripled"
):
    """An incident led by `lead`, declared 30 minutes after its onset, with the events."""
    onset = timezone.now() - timedelta(minutes=30)
    ingest(system, onset, reached=reached)
    return incident_declare(
        actor=lead, title=title, systems=[system], lead=lead, onset_at=onset, **TRIAGE[severity]
    )
