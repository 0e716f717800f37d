"""Fixtures of the gate's tests: the refund classifier's catalog and a token that may ask."""

from datetime import UTC, datetime, timedelta

import pytest

from gate.models import GateRule
from gate.services.decide import gate_decide
from monitoring.models import Rollup
from systems.services import token_issue
from tests.factories import ActionTypeFactory

# A fixed moment in the middle of a 60 s window, so tests never straddle two windows.
NOW = datetime(2026, 11, 27, 14, 30, 5, tzinfo=UTC)


@pytest.fixture
def account_hold(system):
    return ActionTypeFactory(
        system=system, name="account_hold", reversible=False, user_visible=True
    )


@pytest.fixture
def tag(system):
    """A reversible action: a label on the claim, removed in one click."""
    return ActionTypeFactory(system=system, name="claim_tag", reversible=True)


@pytest.fixture
def raw_token(system, owner):
    _, raw = token_issue(actor=owner, system=system, name="prod", scopes=["gate"])
    return raw


@pytest.fixture
def ask(system):
    """`ask(action, subject, at=NOW)`: the service's answer (decision, hold)."""

    def decide(action="account_hold", subject="cus_00001", at=NOW, event_id=""):
        return gate_decide(
            system_id=system.pk, action=action, subject=subject, event_id=event_id, now=at
        )

    return decide


def set_rule(action_type, **fields):
    rule, _ = GateRule.objects.get_or_create(
        action_type=action_type, defaults={"system_id": action_type.system_id}
    )
    for name, value in fields.items():
        setattr(rule, name, value)
    if "baseline_at" not in fields:
        rule.baseline_at = rule.baseline_at or NOW  # no refresh from rollups unless asked
    rule.save()
    return rule


def history(system, action: str, per_minute: float, hours: float = 6, now=NOW):
    """`hours` of rollups before now: events every 2 s bucket, `per_minute` actions."""
    cells = []
    start = now - timedelta(hours=hours)
    minutes = int(hours * 60)
    for m in range(minutes):
        bucket = start + timedelta(minutes=m)
        cells.append(Rollup(system=system, bucket=bucket, signal="events", n=30))
        cells.append(Rollup(system=system, bucket=bucket, signal="action", key=action, n=0))
    # Spread the actions evenly over the minutes.
    total = int(per_minute * minutes)
    for i in range(total):
        cells[2 * (i * minutes // total) + 1].n += 1
    Rollup.objects.bulk_create(cells)
