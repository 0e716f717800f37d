"""The action gate in real Chromium: with the refund classifier's failure running, account
holds pile up in the queue instead of reaching customers; a responder rejects them in bulk
and the incident's blast radius counts them as stopped."""

import re
import time

import pytest
from failsafe_client import Failsafe
from playwright.sync_api import expect

from gate.models import GateRule, Hold
from incidents.models import Incident
from monitoring.management.commands.simulate import gate_events
from monitoring.simulator import ACTION_CATALOG, REFUND, Simulator
from systems.services import token_issue
from tests.browser.conftest import sign_in_on
from tests.factories import ActionTypeFactory
from tests.gate.conftest import set_rule

pytestmark = pytest.mark.browser


def _failure(failsafe, sim, count):
    """The simulated refund classifier over-flagging fraud: `count` outputs, each account
    hold asked at the gate first, what went out recorded as fired."""
    events = sim.events(time.time() - count / 50, count, 50)

    def ask(action, subject, event_id):
        return failsafe.gate(action, subject, event_id=event_id)

    stopped = gate_events(ask, events)
    for event in events:
        failsafe.record(event)
    assert failsafe.flush(10)
    return stopped


def test_held_account_holds_pile_up_and_a_responder_rejects_them_in_bulk(
    asgi_tabs, _asgi_server, system, owner, responder
):
    for name, spec in ACTION_CATALOG[REFUND].items():
        ActionTypeFactory(system=system, name=name, **spec)
    account_hold = system.action_types.get(name="account_hold")
    set_rule(account_hold, breaker_factor=5, breaker_floor=10, window_seconds=600)
    _, raw = token_issue(
        actor=owner, system=system, name="refunds", scopes=["gate", "events:write"]
    )
    sim = Simulator(REFUND, seed=5, versions={}, scenario="fraud-spike", shift_at=0)

    tab = asgi_tabs()
    sign_in_on(tab, responder)
    with Failsafe(_asgi_server, raw, system=system.slug) as failsafe:
        first = _failure(failsafe, sim, 400)
        assert first > 0
        # The breaker tripped: its alert opened an incident nobody declared.
        incident = Incident.objects.get(source=Incident.Source.ALERT)
        assert GateRule.objects.get(action_type=account_hold).tripped_at is not None

        tab.goto(f"/holds/?system={system.slug}")
        pending = tab.get_by_test_id("holds-pending")
        expect(pending).to_have_text(str(first))
        # The failure goes on: the summary refreshes itself as more pile up.
        more = _failure(failsafe, sim, 400)
        expect(pending).to_have_text(str(first + more), timeout=15_000)

    stopped = first + more
    assert Hold.objects.filter(status="pending").count() == stopped
    tab.goto(f"/holds/?incident={incident.number}&action=account_hold")
    expect(tab.get_by_test_id("holds-total")).to_contain_text(f"{stopped} held action")
    tab.get_by_label("every pending hold matching these filters").check()
    tab.get_by_label("Reason").fill("The bad prompt flags ordinary refunds: none is fraud.")
    tab.get_by_role("button", name="Reject").click()
    expect(tab.get_by_role("status")).to_contain_text(f"Rejected {stopped} held actions.")
    expect(tab.get_by_test_id("holds-pending-none")).to_be_visible()
    assert Hold.objects.filter(status="rejected").count() == stopped

    tab.goto(f"/incidents/{incident.number}/")
    radius = tab.get_by_test_id("blast-radius")
    expect(radius.get_by_test_id("stopped")).to_have_text(str(stopped))
    expect(radius.get_by_test_id("stopped-account_hold")).to_contain_text(
        re.compile(rf"{stopped} account_hold stopped at the gate: {stopped} rejected")
    )
    # The breaker's alert is among what the monitors saw; the bulk rejection on the timeline.
    expect(tab.get_by_test_id("detection")).to_contain_text("Gate breaker: account_hold")
    expect(tab.get_by_text(f"{stopped} held account_hold actions rejected")).to_be_visible()
