"""The demo's refund classifier asks the gate before each account hold; what the gate does
not allow is not fired, and not reported as fired."""

import pytest

from gate.models import Hold
from gate.services.decide import gate_decide
from monitoring.management.commands.simulate import gate_events
from monitoring.models import Rollup
from monitoring.services.ingest import events_ingest
from monitoring.simulator import REFUND, Simulator
from tests.factories import ActionTypeFactory
from tests.gate.conftest import NOW, set_rule

pytestmark = pytest.mark.django_db


def test_held_account_holds_are_not_fired(system, account_hold):
    ActionTypeFactory(system=system, name="refund_issue", reversible=False)
    set_rule(account_hold, breaker_floor=5)
    sim = Simulator(REFUND, seed=3, versions={}, scenario="fraud-spike", shift_at=0)
    events = sim.events(NOW.timestamp(), 400, 20)
    asked = sum(a["type"] == "account_hold" for e in events for a in e["actions"])
    assert asked > 10

    def ask(action, subject, event_id):
        return gate_decide(
            system_id=system.pk, action=action, subject=subject, event_id=event_id, now=NOW
        )[0]

    stopped = gate_events(ask, events)
    assert stopped == asked - 5 == Hold.objects.filter(cause="breaker").count()
    fired = sum(a["type"] == "account_hold" for e in events for a in e["actions"])
    assert fired == 5
    events_ingest(system=system, payload={"events": events})
    counted = Rollup.objects.filter(system=system, signal="action", key="account_hold")
    assert sum(counted.values_list("n", flat=True)) == 5
    # Refunds were never asked about: only the gated actions are.
    assert Hold.objects.filter(action_type__name="refund_issue").count() == 0
