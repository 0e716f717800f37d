"""Single sign-on through a real OpenID provider on 127.0.0.1: Django's test client plays
the browser on Failsafe's side, plain HTTP plays it on the provider's; allauth calls the
provider's token and userinfo endpoints itself."""

from urllib.parse import urlsplit

import pytest
import requests
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group

from core.models import AuditEntry
from core.roles import Role, role_of
from tests.accounts.oidc_provider import IdentityProvider, failsafe_configured_for
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db
User = get_user_model()


@pytest.fixture
def provider(settings):
    provider = IdentityProvider().start()
    failsafe_configured_for(settings, provider)
    yield provider
    provider.stop()


def sign_in_through(client, provider, username=None, next_url=""):
    """Press "Sign in with Acme SSO", let the provider approve, come back. Returns the
    callback's answer."""
    provider.signs_in_as = username
    started = client.post("/accounts/oidc/acme/login/", {"next": next_url})
    assert started.status_code == 302
    assert started["Location"].startswith(f"{provider.issuer}/authorize?")
    approved = requests.get(started["Location"], allow_redirects=False, timeout=5)
    assert approved.status_code == 302
    back = urlsplit(approved.headers["Location"])
    return client.get(f"{back.path}?{back.query}")


def role_changes():
    return list(AuditEntry.objects.filter(verb="user.roles_change").order_by("id"))


def person(username):
    return User.objects.get(username=username)


def test_the_login_page_has_a_button_per_provider_posting_to_allauth(client, provider):
    page = client.get("/login/").content.decode()
    assert 'action="/accounts/oidc/acme/login/"' in page
    assert "Sign in with Acme SSO" in page
    assert 'name="password"' in page  # passwords are on by default


def test_a_first_sign_in_creates_the_person_with_the_role_their_group_maps_to(client, provider):
    provider.person("sam", groups=["sre", "everyone"])

    landed = sign_in_through(client, provider, "sam", next_url="/systems/")

    assert landed.status_code == 302 and landed["Location"] == "/systems/"
    sam = person("sam")
    assert role_of(sam) is Role.RESPONDER
    assert sam.email == "sam@example.test" and not sam.has_usable_password()
    assert provider.token_requests == 1
    header = client.get("/incidents/").content.decode()
    assert "sam · " in header and "Responder" in header
    [change] = role_changes()
    assert (change.target_id, change.before, change.after) == (
        str(sam.pk),
        {"groups": []},
        {"groups": ["Responder"]},
    )
    assert change.reason == "from Acme SSO groups: sre"


def test_a_changed_group_changes_the_role_at_the_next_sign_in_and_is_audited(client, provider):
    provider.person("sam", groups=["sre"])
    sign_in_through(client, provider, "sam")
    client.post("/logout/")
    provider.person("sam", groups=["support", "failsafe-admins"])

    sign_in_through(client, provider, "sam")

    assert role_of(person("sam")) is Role.ADMIN  # the highest mapped role wins
    assert User.objects.filter(username__startswith="sam").count() == 1
    change = role_changes()[-1]
    assert (change.before, change.after) == ({"groups": ["Responder"]}, {"groups": ["Admin"]})
    assert change.reason == "from Acme SSO groups: support, failsafe-admins"


def test_signing_in_again_with_the_same_groups_writes_no_audit_entry(client, provider):
    provider.person("sam", groups=["support"])
    sign_in_through(client, provider, "sam")
    client.post("/logout/")
    sign_in_through(client, provider, "sam")
    assert len(role_changes()) == 1


def test_groups_that_map_to_nothing_leave_an_outsider_who_sees_nothing(client, provider):
    provider.person("sam", groups=["sre"])
    sign_in_through(client, provider, "sam")
    client.post("/logout/")
    provider.person("sam", groups=["marketing"])

    sign_in_through(client, provider, "sam")

    assert role_of(person("sam")) is None
    refused = client.get("/incidents/")
    assert refused.status_code == 403
    assert "no role yet" in refused.content.decode()
    change = role_changes()[-1]
    assert change.after == {"groups": []}
    assert change.reason == "from Acme SSO groups: none mapped to a role"


def test_groups_that_grant_no_role_are_left_alone(client, provider):
    provider.person("sam", groups=["support"])
    sign_in_through(client, provider, "sam")
    on_call = Group.objects.create(name="On call")
    person("sam").groups.add(on_call)
    client.post("/logout/")
    provider.person("sam", groups=["sre"])

    sign_in_through(client, provider, "sam")

    assert set(person("sam").groups.values_list("name", flat=True)) == {"On call", "Responder"}


def test_the_groups_claim_can_be_named(client, provider, settings):
    settings.OIDC_GROUPS_CLAIM = "failsafe_roles"
    provider.groups_claim = "failsafe_roles"
    provider.person("sam", groups=["failsafe-admins"])
    sign_in_through(client, provider, "sam")
    assert role_of(person("sam")) is Role.ADMIN


def test_without_a_role_map_roles_are_left_to_the_admin(client, provider, settings):
    settings.OIDC_ROLE_MAP = {}
    provider.person("sam", groups=["failsafe-admins"])
    sign_in_through(client, provider, "sam")
    assert role_of(person("sam")) is None
    person("sam").groups.add(Group.objects.get(name="Reviewer"))
    client.post("/logout/")

    sign_in_through(client, provider, "sam")

    assert role_of(person("sam")) is Role.REVIEWER
    assert role_changes() == []


def test_the_username_is_the_email_when_the_provider_sends_no_preferred_username(client, provider):
    provider.person("sam", groups=["support"], email="sam.lee@acme.test", preferred_username=False)
    sign_in_through(client, provider, "sam")
    assert role_of(person("sam.lee@acme.test")) is Role.VIEWER


def test_a_local_account_of_the_same_name_is_not_taken_over(client, provider):
    local = UserFactory(username="sam", role=Role.ADMIN, email="sam@example.test")
    provider.person("sam", groups=["support"])

    sign_in_through(client, provider, "sam")

    newcomer = User.objects.exclude(pk=local.pk).get(username__startswith="sam")
    assert role_of(newcomer) is Role.VIEWER
    local.refresh_from_db()
    assert role_of(local) is Role.ADMIN and local.check_password("correct horse battery staple")


def test_a_switched_off_person_is_not_signed_in(client, provider):
    provider.person("sam", groups=["sre"])
    sign_in_through(client, provider, "sam")
    client.post("/logout/")
    User.objects.filter(username="sam").update(is_active=False)

    back = sign_in_through(client, provider, "sam")

    assert back["Location"] == "/login/"
    assert "switched off" in client.get("/login/").content.decode()
    assert client.get("/incidents/")["Location"].startswith("/login/")


def test_a_wrong_client_secret_is_refused_by_the_provider_and_nobody_is_signed_in(
    client, provider, settings
):
    failsafe_configured_for(settings, provider, secret="not-the-secret")
    provider.person("sam", groups=["sre"])

    back = sign_in_through(client, provider, "sam")

    assert provider.token_requests == 1
    assert back["Location"] == "/login/"
    assert "Sign-in with Acme SSO did not complete" in client.get("/login/").content.decode()
    assert not User.objects.filter(username="sam").exists()


def test_a_refusal_at_the_provider_comes_back_as_a_message(client, provider):
    back = sign_in_through(client, provider, username=None)  # nobody approved
    assert back["Location"] == "/login/"
    assert "was cancelled" in client.get("/login/").content.decode()


def test_an_unreachable_provider_sends_back_to_the_login_page(client, provider):
    provider.stop()
    answer = client.post("/accounts/oidc/acme/login/")
    assert answer.status_code == 302 and answer["Location"] == "/login/"
    assert "not answering" in client.get("/login/").content.decode()


def test_opening_the_provider_link_starts_nothing(client, provider):
    answer = client.get("/accounts/oidc/acme/login/")
    assert answer.status_code == 302 and answer["Location"] == "/login/"
    assert provider.token_requests == 0


def test_an_unknown_provider_is_not_found(client, provider):
    assert client.post("/accounts/oidc/nobody/login/").status_code == 404
