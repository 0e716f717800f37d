import re
from datetime import UTC, datetime

import pytest
from playwright.sync_api import expect

from tests.factories import IncidentFactory

pytestmark = pytest.mark.browser


def test_a_responder_signs_in_and_sees_the_open_incidents(page, sign_in, responder, system):
    IncidentFactory(
        title="Refund requests flagged as fraud",
        severity="SEV2",
        systems=[system],
        declared_at=datetime(2026, 3, 1, 12, 0, tzinfo=UTC),
    )
    page.goto("/incidents/")
    expect(page).to_have_url(re.compile(r"/login/\?next=/incidents/"))

    sign_in(responder)

    expect(page.get_by_role("heading", name="Incidents")).to_be_visible()
    row = page.get_by_role("row", name=re.compile("Refund requests flagged as fraud"))
    expect(row).to_contain_text("SEV2")
    expect(row).to_contain_text("refund-classifier")
    # Declared at 12:00 UTC, shown in the viewer's zone (Berlin: 13:00).
    expect(row.locator("time")).to_have_text(re.compile(r"13:00|1:00\s?PM"))
    expect(page.locator("[aria-current=page]")).to_have_text("Incidents")


def test_filtering_the_list_swaps_the_table_without_a_reload(page, sign_in, viewer, system):
    IncidentFactory(title="Still burning", severity="SEV1", systems=[system])
    IncidentFactory(title="Long over", severity="SEV3", status="resolved", systems=[system])
    sign_in(viewer)
    expect(page.get_by_text("Still burning")).to_be_visible()
    expect(page.get_by_text("Long over")).to_have_count(0)

    page.get_by_label("Status").select_option("resolved")

    expect(page.get_by_text("Long over")).to_be_visible()
    expect(page.get_by_text("Still burning")).to_have_count(0)
    expect(page).to_have_url(re.compile(r"status=resolved"))


def test_a_wrong_password_is_refused_with_a_message(page, responder):
    page.goto("/login/")
    page.get_by_label("Username").fill(responder.username)
    page.get_by_label("Password").fill("not the password")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_contain_text("enter a correct username and password")


def test_a_viewer_sees_no_register_button_and_is_refused_by_url(
    page, sign_in, viewer, console_errors
):
    sign_in(viewer)
    page.goto("/systems/")
    expect(page.get_by_role("link", name="Register a system")).to_have_count(0)
    response = page.goto("/systems/new/")
    assert response.status == 403
    expect(page.get_by_role("heading")).to_have_text("You can’t do that here")
    assert console_errors == [
        "Failed to load resource: the server responded with a status of 403 (Forbidden)"
    ]
    console_errors.clear()
