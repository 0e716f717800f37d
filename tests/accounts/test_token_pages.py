"""The page "Your API tokens": each person sees, creates and revokes only their own."""

import re

import pytest

from accounts.models import PersonalToken
from accounts.token_services import personal_token_create
from core.models import AuditEntry

pytestmark = pytest.mark.django_db

PAGE = "/account/tokens/"


@pytest.fixture
def rosas_token(responder):
    token, _ = personal_token_create(user=responder, name="nightly export", scope="read")
    return token


def test_a_person_creates_a_token_shown_once(client_for, responder):
    response = client_for(responder).post(
        PAGE, {"name": "deploy script", "scope": "write", "expires_in": "30"}
    )
    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store"
    raw = re.search(rb"fsp_[A-Za-z0-9_-]{43}", response.content).group().decode()
    token = PersonalToken.objects.get()
    assert (token.user, token.name, token.scope) == (responder, "deploy script", "write")
    assert token.expires_at is not None
    page = client_for(responder).get(PAGE).content.decode()
    assert token.prefix in page
    assert raw not in page
    assert AuditEntry.objects.filter(verb="personal_token.create", actor=responder).exists()


def test_the_header_links_to_the_page(client_for, viewer):
    assert f'href="{PAGE}"' in client_for(viewer).get("/incidents/").content.decode()


def test_a_form_without_a_name_creates_nothing(client_for, viewer):
    response = client_for(viewer).post(PAGE, {"name": "", "scope": "read"})
    assert response.status_code == 400
    assert "This field is required" in response.content.decode()
    assert not PersonalToken.objects.exists()


def test_the_owner_sees_and_revokes_their_token(client_for, responder, rosas_token):
    client = client_for(responder)
    assert "nightly export" in client.get(PAGE).content.decode()
    response = client.post(f"{PAGE}{rosas_token.prefix}/revoke", {"reason": "rotated"})
    assert response.status_code == 302
    rosas_token.refresh_from_db()
    assert rosas_token.revoked_at is not None
    assert AuditEntry.objects.get(verb="personal_token.revoke").reason == "rotated"


def test_another_person_neither_sees_nor_revokes_it(client_for, admin_user, rosas_token):
    client = client_for(admin_user)
    page = client.get(PAGE).content.decode()
    assert "nightly export" not in page
    assert rosas_token.prefix not in page
    assert client.post(f"{PAGE}{rosas_token.prefix}/revoke").status_code == 404
    rosas_token.refresh_from_db()
    assert rosas_token.is_active


def test_a_signed_out_visitor_is_sent_to_sign_in(client, rosas_token):
    for response in (client.get(PAGE), client.post(f"{PAGE}{rosas_token.prefix}/revoke")):
        assert response.status_code == 302
        assert response["Location"].startswith("/login/?next=")
    rosas_token.refresh_from_db()
    assert rosas_token.is_active
    assert not PersonalToken.objects.exclude(pk=rosas_token.pk).exists()
