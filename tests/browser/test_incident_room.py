"""The incident page in real Chromium, served over ASGI so the live room's socket works."""

import re

import pytest
from playwright.sync_api import expect

from incidents.services.incident import incident_declare
from tests.browser.conftest import sign_in_on
from tests.factories import ActionTypeFactory

pytestmark = pytest.mark.browser


@pytest.fixture
def incident(system, lead):
    return incident_declare(actor=lead, title="Fraud flags tripled", systems=[system], lead=lead)


def _open(tab, user, incident):
    sign_in_on(tab, user)
    tab.goto(incident.get_absolute_url())
    expect(tab.locator("#room-state")).to_have_text("live")
    return tab


def test_a_message_typed_in_one_browser_appears_in_the_other(asgi_tabs, incident, lead, responder):
    rosa = _open(asgi_tabs(), responder, incident)
    lena = _open(asgi_tabs(), lead, incident)
    expect(rosa.locator("#present")).to_have_text("lena, rosa")
    lena.evaluate("window.notReloaded = true")

    rosa.get_by_label("Message").fill("Holds fire on <b>ordinary</b> refunds")
    rosa.get_by_label("Message").press("Enter")

    in_lena = lena.locator("#timeline .entry-message")
    expect(in_lena).to_contain_text("Holds fire on <b>ordinary</b> refunds")
    expect(in_lena).to_contain_text("rosa")
    assert lena.evaluate("window.notReloaded") is True
    # The sender sees it once, though both the post and the socket bring it.
    expect(rosa.locator("#timeline .entry-message")).to_have_count(1)
    expect(rosa.get_by_label("Message")).to_have_value("")


def test_a_responder_classifies_an_incident_sev1_and_is_offered_the_kill_switch_first(
    asgi_tabs, incident, system, responder
):
    ActionTypeFactory(system=system, name="account_hold", reversible=False)
    tab = _open(asgi_tabs(), responder, incident)
    expect(tab.get_by_test_id("severity")).to_have_text("Unclassified")

    triage = tab.locator(".triage")
    triage.get_by_label("Wrong").check()
    triage.get_by_label("Yes").check()
    triage.get_by_role("button", name="Set severity").click()

    expect(tab.get_by_test_id("severity")).to_have_text("SEV1")
    expect(tab.locator(".triage")).to_contain_text(
        "Wrong outputs that set off irreversible actions are SEV1"
    )
    containment = tab.locator(".containment")
    expect(containment.get_by_role("heading")).to_have_text("Contain first, diagnose second")
    first_step = containment.locator(".steps > li").first
    expect(first_step).to_have_attribute("data-step", "kill_switch")
    expect(first_step.locator("summary")).to_have_text(re.compile("Kill switch: turn off"))
    # The change is on the timeline, for everyone in the room.
    expect(tab.locator("#timeline .entry-severity")).to_contain_text("unclassified → SEV1")


def test_a_change_made_in_one_browser_refreshes_the_panel_in_the_other(
    asgi_tabs, incident, lead, responder
):
    watcher = _open(asgi_tabs(), responder, incident)
    actor = _open(asgi_tabs(), lead, incident)
    actor.locator(".lifecycle").get_by_role("button", name="Start investigating").click()
    expect(actor.locator(".lifecycle-steps .current")).to_have_text("Investigating")
    expect(watcher.locator(".lifecycle-steps .current")).to_have_text("Investigating")
    expect(watcher.locator("#timeline .entry-status")).to_contain_text("triage → investigating")


def test_a_viewer_follows_the_room_but_has_no_controls(asgi_tabs, incident, viewer):
    tab = _open(asgi_tabs(), viewer, incident)
    expect(tab.get_by_label("Message")).to_have_count(0)
    expect(tab.get_by_role("button", name="Set severity")).to_have_count(0)
    expect(tab.get_by_role("button", name="Start investigating")).to_have_count(0)
