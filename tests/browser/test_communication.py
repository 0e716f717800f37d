"""External communication in real Chromium: the lead drafts it from a SEV1 whose events
reached users, approves and publishes it, and a signed-out browser reads it on the status
page."""

import re

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import sign_in_on
from tests.comms.builders import catalog_for, incident_with_events

pytestmark = pytest.mark.browser


def test_the_lead_drafts_approves_and_publishes_and_the_public_reads_it(asgi_tabs, system, lead):
    catalog_for(system)
    incident = incident_with_events(
        system, lead, "SEV1", reached=True, title="INTERNAL: prompt v13 over-flags"
    )

    tab = asgi_tabs()
    sign_in_on(tab, lead)
    tab.goto(incident.get_absolute_url())
    obligation = tab.get_by_test_id("comm-obligation")
    expect(obligation).to_have_attribute("data-state", "open")
    expect(obligation).to_contain_text("3 actions that users see fired")
    obligation.get_by_role("link", name="Draft the communication").click()

    # Prefilled from the incident, in plain words; the check flags jargon as it is typed.
    expect(tab.get_by_label("What this means for you")).to_have_value(
        "This affected 5 people. What you may have seen as a result: account hold (3)."
    )
    happened = tab.get_by_label("What happened")
    expect(happened).to_have_value(
        re.compile(r"^Between .* UTC and now, our automated Refund classifier")
    )
    tab.get_by_label("Headline").fill("Some refund requests were wrongly put on hold")
    happened.fill("A minor prompt change made the model flag good refunds as fraud.")
    findings = tab.get_by_test_id("jargon-findings")
    expect(findings).to_contain_text("“minor”")
    expect(findings).to_contain_text("“model”")
    happened.fill("Our automated refund check put holds on accounts that should not have had one.")
    expect(findings).to_contain_text("Plain words")
    expect(tab.get_by_test_id("comm-preview")).to_contain_text("should not have had one")
    tab.get_by_role("button", name="Save as version 1").click()
    expect(tab.locator(".messages")).to_contain_text("Version 1 saved")

    tab.get_by_role("button", name="Approve version 1").click()
    expect(tab.locator(".messages")).to_contain_text("Version 1 approved")
    tab.get_by_role("button", name="Publish version 1 to the status page").click()
    expect(tab.locator(".messages")).to_contain_text("Version 1 published")
    expect(tab.get_by_test_id("comm-obligation")).to_have_attribute("data-state", "published")

    public = asgi_tabs()  # a browser of its own: never signed in
    public.goto("/status/")
    update = public.get_by_test_id("status-incident")
    expect(update).to_contain_text("Some refund requests were wrongly put on hold")
    expect(update).to_contain_text("should not have had one")
    expect(public.locator("body")).not_to_contain_text("INTERNAL")
    expect(public.get_by_role("link", name="Sign out")).to_have_count(0)
