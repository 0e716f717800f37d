"""The systems pages, each seen by its owner, a colleague, and an outsider."""

import pytest

from core.models import AuditEntry
from systems.models import AISystem
from tests.factories import IncidentFactory

pytestmark = pytest.mark.django_db


def test_the_list_shows_every_system_to_anyone_with_a_role(
    client_for, viewer, system, other_system
):
    response = client_for(viewer).get("/systems/")
    assert response.status_code == 200
    assert b"Refund classifier" in response.content
    assert b"Support reply drafter" in response.content
    assert b"Register a system" not in response.content


def test_the_list_and_the_page_are_closed_to_an_outsider(client_for, outsider, system):
    client = client_for(outsider)
    assert client.get("/systems/").status_code == 403
    assert client.get("/systems/refund-classifier/").status_code == 403


def test_the_page_shows_the_catalog_and_fallbacks_escaped(client_for, viewer, system):
    system.degraded_behaviour = "<script>alert('x')</script> templated replies"
    system.save()
    response = client_for(viewer).get("/systems/refund-classifier/")
    assert response.status_code == 200
    assert b"&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in response.content
    assert b"<script>alert" not in response.content


def test_an_unknown_system_is_not_found(client_for, viewer):
    assert client_for(viewer).get("/systems/no-such-thing/").status_code == 404


def test_the_owner_sees_edit_controls_and_a_colleague_does_not(
    client_for, owner, responder, system
):
    assert b"Issue a token" in client_for(owner).get("/systems/refund-classifier/").content
    page = client_for(responder).get("/systems/refund-classifier/").content
    assert b"Issue a token" not in page
    assert b"Add action" not in page


def test_a_responder_registers_a_system_and_it_is_audited(client_for, responder):
    response = client_for(responder).post(
        "/systems/new/",
        {
            "slug": "claims-triage",
            "name": "Claims triage",
            "owner": responder.pk,
            "kind": "classifier",
            "degraded_behaviour": "All claims to manual review.",
        },
    )
    assert response.status_code == 302
    system = AISystem.objects.get(slug="claims-triage")
    assert response["Location"] == "/systems/claims-triage/"
    assert system.owner == responder
    entry = AuditEntry.objects.get(verb="system.register")
    assert entry.actor == responder
    assert entry.after["slug"] == "claims-triage"


def test_registering_with_bad_input_says_which_field_and_writes_nothing(client_for, responder):
    response = client_for(responder).post(
        "/systems/new/",
        {"slug": "Not A Slug!", "name": "", "owner": responder.pk, "kind": "oracle"},
    )
    assert response.status_code == 200
    form = response.context["form"]
    assert set(form.errors) == {"slug", "name", "kind"}
    assert not AISystem.objects.exists()
    assert not AuditEntry.objects.exists()


def test_claiming_a_human_fallback_needs_saying_where_the_work_goes(client_for, responder):
    response = client_for(responder).post(
        "/systems/new/",
        {
            "slug": "s",
            "name": "S",
            "owner": responder.pk,
            "kind": "ranker",
            "has_human_fallback": "on",
        },
    )
    assert "human_fallback" in response.context["form"].errors
    assert not AISystem.objects.exists()


@pytest.mark.parametrize("method", ["get", "post"])
def test_a_viewer_cannot_register_a_system_even_by_url(client_for, viewer, method):
    response = getattr(client_for(viewer), method)("/systems/new/", {"slug": "x", "name": "x"})
    assert response.status_code == 403
    assert not AISystem.objects.exists()


def test_the_owner_edits_the_system_and_the_change_is_audited(client_for, owner, system):
    response = client_for(owner).post(
        "/systems/refund-classifier/edit/",
        {
            "name": "Refund classifier",
            "owner": owner.pk,
            "kind": "classifier",
            "degraded_behaviour": "Refunds under $50 approved, the rest to people.",
        },
    )
    assert response.status_code == 302
    system.refresh_from_db()
    assert system.degraded_behaviour == "Refunds under $50 approved, the rest to people."
    entry = AuditEntry.objects.get(verb="system.update")
    assert entry.actor == owner
    assert entry.changes() == [
        (
            "degraded_behaviour",
            "Rules instead of the model.",
            "Refunds under $50 approved, the rest to people.",
        )
    ]


def test_the_owner_sets_how_long_raw_events_are_kept(client_for, owner, system):
    form = {"name": "Refund classifier", "owner": owner.pk, "kind": "classifier"}
    refused = client_for(owner).post(
        "/systems/refund-classifier/edit/", form | {"retention_days": 0}
    )
    assert refused.status_code == 200
    assert b"greater than or equal to 1" in refused.content
    response = client_for(owner).post(
        "/systems/refund-classifier/edit/", form | {"retention_days": 7}
    )
    assert response.status_code == 302
    system.refresh_from_db()
    assert system.retention_days == 7
    assert ("retention_days", 30, 7) in AuditEntry.objects.get(verb="system.update").changes()
    page = client_for(owner).get("/systems/refund-classifier/")
    assert b"7 days" in page.content


def test_a_colleague_who_is_not_the_owner_cannot_edit(client_for, responder, system):
    client = client_for(responder)
    assert client.get("/systems/refund-classifier/edit/").status_code == 403
    response = client.post(
        "/systems/refund-classifier/edit/", {"name": "Hijacked", "kind": "ranker"}
    )
    assert response.status_code == 403
    system.refresh_from_db()
    assert (system.name, system.kind) == ("Refund classifier", "classifier")
    assert not AuditEntry.objects.filter(verb="system.update").exists()


def test_an_admin_may_edit_any_system(client_for, admin_user, system):
    assert client_for(admin_user).get("/systems/refund-classifier/edit/").status_code == 200


def test_the_owner_adds_an_action_with_htmx_and_gets_the_catalog_back(client_for, owner, system):
    response = client_for(owner).post(
        "/systems/refund-classifier/actions/",
        {"name": "account_hold", "description": "Freezes the account", "user_visible": "on"},
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 200
    assert b"account_hold" in response.content
    assert b"irreversible" in response.content
    assert b"<html" not in response.content
    action = system.action_types.get()
    assert (action.reversible, action.user_visible) == (False, True)
    assert (
        AuditEntry.objects.get(verb="system.action_type_add").after["action_type"]["name"]
        == "account_hold"
    )


def test_a_duplicate_action_is_refused_with_the_reason(client_for, owner, system):
    client = client_for(owner)
    client.post(
        "/systems/refund-classifier/actions/", {"name": "account_hold"}, HTTP_HX_REQUEST="true"
    )
    response = client.post(
        "/systems/refund-classifier/actions/", {"name": "account_hold"}, HTTP_HX_REQUEST="true"
    )
    assert response.status_code == 422
    assert b"already has an action of that name" in response.content
    assert system.action_types.count() == 1


def test_the_owner_removes_an_action_and_it_is_audited(client_for, owner, system):
    client = client_for(owner)
    client.post("/systems/refund-classifier/actions/", {"name": "account_hold"})
    response = client.post("/systems/refund-classifier/actions/account_hold/remove/")
    assert response.status_code == 302
    assert not system.action_types.exists()
    assert AuditEntry.objects.filter(verb="system.action_type_remove").exists()


def test_a_colleague_cannot_change_the_catalog(client_for, responder, system):
    client = client_for(responder)
    assert client.post("/systems/refund-classifier/actions/", {"name": "x"}).status_code == 403
    assert not system.action_types.exists()


def test_each_runbook_save_is_a_new_version_and_renders_without_script(client_for, owner, system):
    client = client_for(owner)
    client.post("/systems/refund-classifier/runbook/", {"body": "1. Switch to **degraded**"})
    client.post(
        "/systems/refund-classifier/runbook/",
        {"body": "1. Kill switch first <script>alert(1)</script>", "reason": "SEV1 path"},
    )
    assert list(system.runbook_versions.values_list("number", flat=True)) == [2, 1]
    page = client.get("/systems/refund-classifier/").content
    assert b"Kill switch first" in page
    assert b"<script>alert(1)</script>" not in page
    assert AuditEntry.objects.filter(verb="system.runbook_revise").count() == 2


def test_a_colleague_cannot_revise_the_runbook(client_for, responder, system):
    assert (
        client_for(responder).post("/systems/refund-classifier/runbook/", {"body": "x"}).status_code
        == 403
    )
    assert not system.runbook_versions.exists()


HOSTILE_MARKDOWN = """1. [Open the dashboard](javascript:alert(1))
2. <img src=x onerror="alert(2)"> check the holds
3. <iframe src="https://evil.example"></iframe>
4. <a href="https://ops.example/runbook" onclick="alert(3)">the full runbook</a>
5. **Kill switch first**
"""


def test_hostile_runbook_markdown_renders_safely_on_the_system_and_incident_pages(
    client_for, owner, system, viewer
):
    client_for(owner).post("/systems/refund-classifier/runbook/", {"body": HOSTILE_MARKDOWN})
    incident = IncidentFactory(systems=[system])
    for url in ("/systems/refund-classifier/", f"/incidents/{incident.number}/"):
        page = client_for(viewer).get(url).content.decode()
        assert "<strong>Kill switch first</strong>" in page, url
        assert "javascript:" not in page, url
        assert "onerror" not in page and "onclick" not in page, url
        assert "<iframe" not in page, url
        assert 'href="https://ops.example/runbook"' in page, url
