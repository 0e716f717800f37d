import re

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser


def test_the_owner_adds_a_downstream_action_in_place(page, sign_in, owner, system):
    owner.set_password("correct horse battery staple")
    owner.save()
    sign_in(owner)
    page.goto("/systems/refund-classifier/")
    catalog = page.locator("#catalog")
    page.evaluate("window.notReloaded = true")
    catalog.get_by_label("Name").fill("account_hold")
    catalog.get_by_label("Description").fill("Freezes the <b>account</b>")
    catalog.get_by_role("button", name="Add action").click()

    row = catalog.get_by_role("row", name=re.compile("account_hold"))
    expect(row).to_contain_text("irreversible")
    expect(row).to_contain_text("Freezes the <b>account</b>")
    assert page.evaluate("window.notReloaded") is True


def test_the_api_docs_load_offline_for_a_signed_in_person(page, sign_in, viewer):
    sign_in(viewer)
    page.goto("/api/docs/")
    expect(page.get_by_text("/api/v1/systems/{slug}", exact=True)).to_be_visible()
