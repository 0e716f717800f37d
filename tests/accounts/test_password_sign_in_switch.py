"""PASSWORD_LOGIN off: no password form, every password refused; the break-glass link
from manage.py still lets a superuser in, once."""

from io import StringIO
from urllib.parse import urlsplit

import pytest
from django.core.management import CommandError, call_command

from accounts.break_glass import links
from core.models import AuditEntry
from tests.accounts.oidc_provider import IdentityProvider, failsafe_configured_for
from tests.factories import Role, UserFactory

pytestmark = pytest.mark.django_db
PASSWORD = "correct horse battery staple"


@pytest.fixture
def passwords_off(settings):
    settings.PASSWORD_LOGIN = False


@pytest.fixture
def root(db):
    return UserFactory(username="root", is_superuser=True, is_staff=True)


def signed_in(client) -> bool:
    return client.get("/incidents/").status_code == 200


def test_with_passwords_off_the_login_page_offers_only_the_providers(
    client, settings, passwords_off
):
    provider = IdentityProvider()
    failsafe_configured_for(settings, provider)
    page = client.get("/login/").content.decode()
    assert 'name="password"' not in page
    assert "Sign in with Acme SSO" in page


def test_with_passwords_off_and_no_provider_the_page_says_how_to_get_in(client, passwords_off):
    page = client.get("/login/").content.decode()
    assert 'name="password"' not in page
    assert "one-time sign-in link" in page


def test_with_passwords_off_a_right_password_is_refused_with_a_message(
    client, responder, passwords_off
):
    answer = client.post("/login/", {"username": responder.username, "password": PASSWORD})
    assert answer.status_code == 403
    assert "Password sign-in is switched off" in answer.content.decode()
    assert not signed_in(client)


def test_with_passwords_off_the_admin_site_refuses_passwords_too(client, root, passwords_off):
    client.post("/admin/login/", {"username": "root", "password": PASSWORD})
    assert not signed_in(client)


def test_with_passwords_on_a_password_signs_in(client, responder):
    answer = client.post("/login/", {"username": responder.username, "password": PASSWORD})
    assert answer.status_code == 302
    assert signed_in(client)


def break_glass_link(username="root") -> str:
    out = StringIO()
    call_command("break_glass", username, stdout=out)
    return urlsplit(out.getvalue().split()[0]).path


def test_a_break_glass_link_signs_a_superuser_in_once_and_is_audited(client, root, passwords_off):
    link = break_glass_link()
    assert link.startswith("/login/break-glass/")
    confirm = client.get(link)
    assert "Sign in as root" in confirm.content.decode()
    assert not signed_in(client)  # opening the link alone does nothing

    assert client.post(link).status_code == 302

    assert signed_in(client)
    entry = AuditEntry.objects.get(verb="user.break_glass_sign_in")
    assert (entry.actor, entry.target_id) == (root, str(root.pk))
    client.post("/logout/")
    used = client.post(link)
    assert used.status_code == 400
    assert "already used or expired" in used.content.decode()
    assert not signed_in(client)


def test_a_break_glass_link_older_than_fifteen_minutes_is_refused(client, root):
    made_16_minutes_ago = links._num_seconds(links._now()) - 16 * 60
    token = links._make_token_with_timestamp(root, made_16_minutes_ago, links.secret)
    link = break_glass_link().rsplit("/", 2)[0] + f"/{token}/"
    assert client.post(link).status_code == 400
    assert not signed_in(client)


def test_a_break_glass_link_stops_working_when_the_person_is_no_longer_a_superuser(client, root):
    link = break_glass_link()
    root.is_superuser = False
    root.save()
    assert client.post(link).status_code == 400


def test_only_a_superuser_gets_a_break_glass_link(db):
    UserFactory(username="lena", role=Role.INCIDENT_LEAD)
    with pytest.raises(CommandError, match="not an active superuser"):
        break_glass_link("lena")
    with pytest.raises(CommandError, match="not an active superuser"):
        break_glass_link("nobody")
