"""Single sign-on in Chromium, through a real OpenID provider on 127.0.0.1."""

import re

import pytest
from django.contrib.auth import get_user_model
from playwright.sync_api import expect

from core.models import AuditEntry
from core.roles import Role, role_of
from tests.accounts.oidc_provider import IdentityProvider, failsafe_configured_for

pytestmark = pytest.mark.browser


@pytest.fixture
def provider(settings, live_server):
    provider = IdentityProvider().start()
    failsafe_configured_for(settings, provider)
    yield provider
    provider.stop()


def sign_in_with_acme(page):
    page.get_by_role("button", name="Sign in with Acme SSO").click()
    page.wait_for_url("**/incidents/**")


def test_a_person_lands_with_the_role_their_group_maps_to_and_a_changed_group_changes_it(
    page, provider
):
    provider.person("sam", groups=["sre"])
    provider.signs_in_as = "sam"
    page.goto("/incidents/")
    expect(page).to_have_url(re.compile(r"/login/\?next=/incidents/"))

    sign_in_with_acme(page)

    whoami = page.locator(".whoami")
    expect(whoami).to_contain_text("sam · Responder")
    sam = get_user_model().objects.get(username="sam")
    assert role_of(sam) is Role.RESPONDER

    provider.person("sam", groups=["failsafe-admins"])
    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(re.compile(r"/login/$"))
    sign_in_with_acme(page)

    expect(whoami).to_contain_text("sam · Admin")
    sam = get_user_model().objects.get(username="sam")
    assert role_of(sam) is Role.ADMIN
    change = AuditEntry.objects.filter(verb="user.roles_change").latest("id")
    assert (change.before, change.after) == ({"groups": ["Responder"]}, {"groups": ["Admin"]})
    page.goto("/audit/?verb=user.roles_change")
    expect(page.get_by_text("from Acme SSO groups: failsafe-admins")).to_be_visible()


def test_a_person_whose_groups_map_to_nothing_signs_in_and_sees_nothing(
    page, provider, console_errors
):
    provider.person("max", groups=["marketing"])
    provider.signs_in_as = "max"
    page.goto("/login/")

    page.get_by_role("button", name="Sign in with Acme SSO").click()

    expect(page.get_by_role("heading")).to_have_text("You can’t do that here")
    expect(page.locator(".whoami")).to_contain_text("max · no role")
    assert role_of(get_user_model().objects.get(username="max")) is None
    assert console_errors == [
        "Failed to load resource: the server responded with a status of 403 (Forbidden)"
    ]
    console_errors.clear()


def test_with_passwords_off_only_the_provider_button_is_offered(page, provider, settings):
    settings.PASSWORD_LOGIN = False
    provider.person("sam", groups=["support"])
    provider.signs_in_as = "sam"
    page.goto("/login/")
    expect(page.get_by_label("Password")).to_have_count(0)

    sign_in_with_acme(page)

    expect(page.locator(".whoami")).to_contain_text("sam · Viewer")
