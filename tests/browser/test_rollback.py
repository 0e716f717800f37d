"""Attribution and rollback in real Chromium: the change before onset, rolled back."""

from datetime import timedelta

import httpx
import pytest
from django.utils import timezone
from playwright.sync_api import expect

from incidents.services.incident import incident_declare
from rollbacks.services import version_add, version_deploy
from systems.services import token_issue
from tests.browser.conftest import sign_in_on

pytestmark = pytest.mark.browser

V1 = {"template": "Label this refund.\n{request}", "variables": ["request"]}
V2 = {"template": "Label this refund. When unsure, say fraud.\n{request}", "variables": ["request"]}


def test_a_responder_rolls_back_the_prompt_change_behind_an_incident(
    asgi_tabs, _asgi_server, system, owner, lead, responder
):
    now = timezone.now()
    first = version_add(actor=owner, system=system, surface="prompt", content=V1)
    second = version_add(actor=owner, system=system, surface="prompt", content=V2)
    version_deploy(actor=owner, version=first, reason="Launch", at=now - timedelta(days=3))
    version_deploy(actor=owner, version=second, reason="Lean to fraud", at=now - timedelta(hours=2))
    incident = incident_declare(
        actor=lead,
        title="Fraud flags tripled",
        systems=[system],
        harm="wrong",
        onset_at=now - timedelta(hours=1),
    )
    _, token = token_issue(actor=owner, system=system, name="prod", scopes=["bundle:read"])

    tab = asgi_tabs()
    sign_in_on(tab, responder)
    tab.goto(incident.get_absolute_url())
    changes = tab.get_by_test_id("changes-before")
    expect(changes).to_contain_text("Prompt v1 → v2")
    expect(changes).to_contain_text("Lean to fraud")
    changes.locator("summary", has_text="Roll back to v1").click()
    changes.get_by_label("Why").fill("The new prompt over-flags fraud")
    changes.get_by_role("button", name="Confirm: roll back").click()
    expect(tab.locator(".messages")).to_contain_text("prompt@v1 is active (rollback)")
    expect(tab.locator("#timeline .entry-rollback")).to_contain_text("prompt v2 → v1")

    bundle = httpx.get(
        f"{_asgi_server}/api/v1/systems/{system.slug}/bundle",
        headers={"Authorization": f"Bearer {token}"},
    )
    assert bundle.json()["surfaces"]["prompt"]["content"] == V1
