"""Personal API tokens: a script acts as its person, with that person's role and nothing
more; read tokens only read; revoked and expired tokens are refused; only hashes are kept."""

import hashlib
from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.models import PersonalToken
from accounts.token_services import (
    NotYourToken,
    PersonalTokenError,
    personal_token_create,
    personal_token_revoke,
)
from core.models import AuditEntry
from incidents.models import Incident
from systems.models import SystemToken
from systems.services import token_issue

pytestmark = pytest.mark.django_db

INCIDENTS = "/api/v1/incidents"
DECLARE = {"title": "Refunds flagged as fraud", "systems": ["refund-classifier"], "harm": "wrong"}


def bearer(raw):
    return {"HTTP_AUTHORIZATION": f"Bearer {raw}"}


def token_of(user, scope="write", **fields):
    return personal_token_create(user=user, name="script", scope=scope, **fields)


def declare(client, raw):
    return client.post(INCIDENTS, DECLARE, content_type="application/json", **bearer(raw))


def messages_of(response):
    return [error["message"] for error in response.json()["errors"]]


def test_a_viewers_token_reads_incidents_but_cannot_declare_one(client, viewer, system):
    _, raw = token_of(viewer, scope="write")
    assert client.get(INCIDENTS, **bearer(raw)).status_code == 200
    response = declare(client, raw)
    assert response.status_code == 403
    assert not Incident.objects.exists()


def test_a_responders_write_token_declares_and_the_audit_names_the_person_and_token(
    client, responder, system
):
    token, raw = token_of(responder, scope="write")
    response = declare(client, raw)
    assert response.status_code == 201
    entry = AuditEntry.objects.get(verb="incident.declare")
    assert entry.actor == responder
    assert entry.actor_label == f"rosa via token {token.prefix}…"


def test_a_responders_read_token_cannot_declare(client, responder, system):
    _, raw = token_of(responder, scope="read")
    assert client.get(INCIDENTS, **bearer(raw)).status_code == 200
    response = declare(client, raw)
    assert response.status_code == 403
    assert "read-only" in messages_of(response)[0]
    assert not Incident.objects.exists()


def test_a_token_follows_its_persons_role_when_it_changes(client, responder, system):
    _, raw = token_of(responder)
    responder.groups.clear()
    assert client.get(INCIDENTS, **bearer(raw)).status_code == 403
    assert declare(client, raw).status_code == 403


def test_a_token_of_a_person_without_a_role_reads_nothing(client, outsider):
    _, raw = token_of(outsider, scope="read")
    assert client.get(INCIDENTS, **bearer(raw)).status_code == 403


def test_a_revoked_token_is_refused(client, responder, system):
    token, raw = token_of(responder)
    personal_token_revoke(actor=responder, token=token)
    response = client.get(INCIDENTS, **bearer(raw))
    assert response.status_code == 401
    assert messages_of(response) == ["This token has been revoked."]
    assert declare(client, raw).status_code == 401
    assert not Incident.objects.exists()


def test_an_expired_token_is_refused(client, responder):
    token, raw = token_of(responder, expires_at=timezone.now() + timedelta(days=1))
    PersonalToken.objects.filter(pk=token.pk).update(expires_at=timezone.now())
    response = client.get(INCIDENTS, **bearer(raw))
    assert response.status_code == 401
    assert "expired" in messages_of(response)[0]


def test_an_unknown_personal_token_is_refused(client, responder):
    token_of(responder)
    assert client.get(INCIDENTS, **bearer("fsp_" + "x" * 43)).status_code == 401


def test_an_inactive_persons_token_is_refused(client, responder):
    _, raw = token_of(responder)
    responder.is_active = False
    responder.save()
    assert client.get(INCIDENTS, **bearer(raw)).status_code == 401


def test_system_tokens_keep_working_beside_personal_ones(client, system):
    _, raw = token_issue(actor=None, system=system, name="p", scopes=["system:read"])
    response = client.get("/api/v1/systems/refund-classifier", **bearer(raw))
    assert response.status_code == 200
    assert client.get("/api/v1/systems/refund-classifier", **bearer("fsk_nope")).status_code == 401


def test_the_raw_token_is_never_stored(responder):
    token, raw = token_of(responder)
    assert raw.startswith("fsp_")
    assert token.token_hash == hashlib.sha256(raw.encode()).hexdigest()
    assert raw.startswith(token.prefix)
    assert raw not in str(PersonalToken.objects.values().get())
    assert raw not in str(list(AuditEntry.objects.values("before", "after", "target_repr")))


def test_its_use_is_stamped(client, viewer):
    token, raw = token_of(viewer, scope="read")
    client.get(INCIDENTS, **bearer(raw))
    token.refresh_from_db()
    assert token.last_used_at is not None


def test_creating_and_revoking_are_audited(responder):
    token, _ = token_of(responder, scope="read")
    personal_token_revoke(actor=responder, token=token, reason="laptop lost")
    created, revoked = AuditEntry.objects.filter(verb__startswith="personal_token.").order_by("id")
    assert (created.verb, created.actor, created.after["scope"]) == (
        "personal_token.create",
        responder,
        "read",
    )
    assert (revoked.verb, revoked.reason, revoked.before["revoked_at"]) == (
        "personal_token.revoke",
        "laptop lost",
        None,
    )
    assert revoked.after["revoked_at"] is not None


def test_nobody_revokes_another_persons_token(responder, admin_user):
    token, _ = token_of(responder)
    with pytest.raises(NotYourToken):
        personal_token_revoke(actor=admin_user, token=token)
    token.refresh_from_db()
    assert token.is_active


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"name": " ", "scope": "read"}, "name"),
        ({"name": "x", "scope": "admin"}, "scope"),
        ({"name": "x", "scope": "read", "expires_at": timezone.now()}, "expires_at"),
    ],
)
def test_bad_input_is_refused_naming_the_field(responder, fields, field):
    with pytest.raises(PersonalTokenError) as refused:
        personal_token_create(user=responder, **fields)
    assert refused.value.field == field
    assert not PersonalToken.objects.exists()
    assert not SystemToken.objects.exists()
