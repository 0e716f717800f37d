"""The kill switch in real Chromium, with a real SDK client obeying it."""

import re

import pytest
from failsafe_client import Failsafe
from playwright.sync_api import expect

from incidents.services.incident import incident_declare
from systems.services import token_issue
from tests.browser.conftest import sign_in_on

pytestmark = pytest.mark.browser


@pytest.fixture
def running_client(_asgi_server, system, owner):
    """The AI system, running: an SDK client watching its mode over the stream."""
    _, raw = token_issue(actor=owner, system=system, name="prod", scopes=["mode:read"])
    client = Failsafe(_asgi_server, raw, client_id="refunds-pod-1")
    client.watch(system.slug, wait=True)
    yield client
    client.close()


def test_a_responder_kills_the_ai_from_an_incident_and_sees_the_client_obey(
    asgi_tabs, system, lead, responder, running_client
):
    incident = incident_declare(
        actor=lead,
        title="Fraud flags tripled",
        systems=[system],
        harm="wrong",
        irreversible_actions=True,
        lead=lead,
    )
    assert running_client.mode(system.slug) == "ai"
    tab = asgi_tabs()
    sign_in_on(tab, responder)
    tab.goto(incident.get_absolute_url())

    kill_switch = tab.locator(".containment .steps > li").first
    kill_switch.locator("summary").click()
    expect(kill_switch).to_contain_text("AI feature stops")
    kill_switch.get_by_label("Why").fill("Holds are hitting ordinary refunds")
    kill_switch.get_by_role("button", name=re.compile("Confirm")).click()

    status = tab.get_by_test_id(f"mode-status-{system.slug}")
    expect(status.get_by_test_id("mode")).to_have_text("OFF")
    expect(status.get_by_test_id("mode-effect")).to_contain_text(
        re.compile(r"1 of 1 client on OFF after \d+\.\d\d s")
    )
    assert running_client.mode(system.slug) == "off"
    expect(tab.locator("#timeline .entry-mode")).to_contain_text("ai → off")


def test_a_viewer_sees_the_mode_but_no_kill_switch(asgi_tabs, system, viewer):
    tab = asgi_tabs()
    sign_in_on(tab, viewer)
    tab.goto(system.get_absolute_url())
    expect(tab.get_by_test_id(f"mode-status-{system.slug}").get_by_test_id("mode")).to_have_text(
        "AI"
    )
    expect(tab.get_by_text("Kill switch: turn off")).to_have_count(0)
