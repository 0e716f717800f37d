"""Per-system tokens: shown once, stored hashed, revocable, scoped to their own system."""

import hashlib
import re

import pytest
from django.core.management import CommandError, call_command

from core.models import AuditEntry
from systems.models import SystemToken
from systems.services import token_issue, token_revoke

pytestmark = pytest.mark.django_db


def _bearer(raw):
    return {"HTTP_AUTHORIZATION": f"Bearer {raw}"}


def test_the_owner_issues_a_token_that_is_shown_once_and_stored_only_as_a_hash(
    client_for, owner, system
):
    response = client_for(owner).post(
        "/systems/refund-classifier/tokens/",
        {"name": "production", "scopes": ["system:read", "mode:read"]},
    )
    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store"
    raw = re.search(rb"fsk_[A-Za-z0-9_-]{43}", response.content).group().decode()
    token = SystemToken.objects.get()
    assert token.token_hash == hashlib.sha256(raw.encode()).hexdigest()
    assert raw not in str(SystemToken.objects.values().get())
    assert raw not in str(list(AuditEntry.objects.values("before", "after")))
    assert token.scopes == ["mode:read", "system:read"]
    page = client_for(owner).get("/systems/refund-classifier/").content.decode()
    assert token.prefix in page
    assert raw not in page


def test_a_colleague_cannot_issue_or_revoke_tokens(client_for, responder, system):
    token, _ = token_issue(actor=None, system=system, name="p", scopes=["system:read"])
    client = client_for(responder)
    assert (
        client.post(
            "/systems/refund-classifier/tokens/", {"name": "x", "scopes": ["gate"]}
        ).status_code
        == 403
    )
    assert (
        client.post(f"/systems/refund-classifier/tokens/{token.prefix}/revoke/").status_code == 403
    )
    assert SystemToken.objects.count() == 1
    token.refresh_from_db()
    assert token.is_active


def test_a_token_reads_its_own_system(client, system):
    _, raw = token_issue(actor=None, system=system, name="p", scopes=["system:read"])
    response = client.get("/api/v1/systems/refund-classifier", **_bearer(raw))
    assert response.status_code == 200
    assert response.json()["slug"] == "refund-classifier"
    assert SystemToken.objects.get().last_used_at is not None


def test_a_token_cannot_touch_another_system(client, system, other_system):
    _, raw = token_issue(actor=None, system=system, name="p", scopes=SystemToken.Scope.values)
    response = client.get("/api/v1/systems/support-reply", **_bearer(raw))
    assert response.status_code == 403
    assert "support-reply" not in response.content.decode()


def test_a_token_cannot_list_systems_or_read_incidents(client, system):
    _, raw = token_issue(actor=None, system=system, name="p", scopes=SystemToken.Scope.values)
    assert client.get("/api/v1/systems", **_bearer(raw)).status_code == 403
    assert client.get("/api/v1/incidents", **_bearer(raw)).status_code == 403


def test_a_token_without_the_scope_is_refused(client, system):
    _, raw = token_issue(actor=None, system=system, name="p", scopes=["events:write"])
    assert client.get("/api/v1/systems/refund-classifier", **_bearer(raw)).status_code == 403


def test_a_revoked_token_stops_working_at_once_and_the_revocation_is_audited(
    client_for, owner, client, system
):
    token, raw = token_issue(actor=None, system=system, name="p", scopes=["system:read"])
    client_for(owner).post(
        f"/systems/refund-classifier/tokens/{token.prefix}/revoke/", {"reason": "leaked in a log"}
    )
    client.logout()
    response = client.get("/api/v1/systems/refund-classifier", **_bearer(raw))
    assert response.status_code == 401
    assert response.json()["errors"][0]["message"] == "This token has been revoked."
    entry = AuditEntry.objects.get(verb="token.revoke")
    assert (entry.actor, entry.reason) == (owner, "leaked in a log")
    token.refresh_from_db()
    assert not token.is_active


def test_revoking_twice_records_it_once(system):
    token, _ = token_issue(actor=None, system=system, name="p", scopes=["gate"])
    token_revoke(actor=None, token=token)
    token_revoke(actor=None, token=token)
    assert AuditEntry.objects.filter(verb="token.revoke").count() == 1


@pytest.mark.parametrize(
    "header", ["Bearer fsk_not-a-real-token", "Bearer", "Bearer a b", "Bearer sk_wrong_prefix"]
)
def test_a_bad_bearer_header_gets_a_clear_401(client, system, header):
    response = client.get("/api/v1/systems/refund-classifier", HTTP_AUTHORIZATION=header)
    assert response.status_code == 401
    assert response.json()["errors"][0]["field"] is None


def test_create_token_prints_a_working_token_on_its_last_line(client, system, capsys):
    call_command("create_token", "refund-classifier", "--scope", "system:read")
    raw = capsys.readouterr().out.strip().splitlines()[-1]
    assert client.get("/api/v1/systems/refund-classifier", **_bearer(raw)).status_code == 200
    assert AuditEntry.objects.get(verb="token.issue").actor_label == "failsafe"


def test_create_token_names_the_known_systems_when_the_slug_is_wrong(system):
    with pytest.raises(
        CommandError, match=r"No system 'refund-clasifier'\. Known systems: refund-classifier"
    ):
        call_command("create_token", "refund-clasifier")
    assert not SystemToken.objects.exists()
