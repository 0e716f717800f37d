"""The versions page, the diff, and rolling back from an incident."""

from datetime import timedelta

import pytest
from django.utils import timezone

from incidents.services.incident import incident_declare
from rollbacks.models import ActiveVersion, ChangeRequest, ConfigSchema, Version
from rollbacks.services import version_add, version_deploy

pytestmark = pytest.mark.django_db

V1 = {"template": "Label this refund.\n{request}", "variables": ["request"]}
V2 = {"template": "Label this refund. When unsure, say fraud.\n{request}", "variables": ["request"]}


@pytest.fixture
def prompts(system, responder):
    first = version_add(actor=responder, system=system, surface="prompt", content=V1)
    second = version_add(actor=responder, system=system, surface="prompt", content=V2)
    now = timezone.now()
    version_deploy(actor=responder, version=first, reason="Launch", at=now - timedelta(days=3))
    version_deploy(
        actor=responder, version=second, reason="Lean to fraud", at=now - timedelta(hours=2)
    )
    return first, second


@pytest.mark.parametrize(("who", "status"), [("viewer", 200), ("outsider", 403)])
def test_the_versions_page_is_for_people_with_a_role(client_for, system, request, who, status):
    assert (
        client_for(request.getfixturevalue(who))
        .get("/systems/refund-classifier/versions/")
        .status_code
        == status
    )


def test_a_responder_adds_a_pinned_model_version_from_the_page(client_for, system, responder):
    response = client_for(responder).post(
        "/systems/refund-classifier/versions/new/",
        {
            "surface": "model",
            "provider": "openai",
            "name": "gpt-4o",
            "version_id": "gpt-4o-2024-08-06",
        },
    )
    assert response.status_code == 302
    assert Version.objects.get().reference == "model@v1"


def test_a_moving_alias_is_refused_on_the_page_naming_the_field(client_for, system, responder):
    response = client_for(responder).post(
        "/systems/refund-classifier/versions/new/",
        {"surface": "model", "provider": "openai", "name": "gpt-4o", "version_id": "latest"},
    )
    assert response.status_code == 400
    assert "version_id" in response.context["form"].errors
    assert not Version.objects.exists()


def test_bad_config_json_is_a_400_and_writes_nothing(client_for, system, responder):
    response = client_for(responder).post(
        "/systems/refund-classifier/versions/new/", {"surface": "config", "params": "{temperature"}
    )
    assert response.status_code == 400
    assert "Not JSON" in response.context["form"].errors["params"][0]
    assert not Version.objects.exists()


@pytest.mark.parametrize(("who", "status"), [("responder", 302), ("viewer", 403)])
def test_rolling_back_from_the_page_needs_the_responder_role(
    client_for, system, prompts, request, who, status
):
    response = client_for(request.getfixturevalue(who)).post(
        "/systems/refund-classifier/versions/prompt/1/activate/", {"reason": "Over-flags"}
    )
    assert response.status_code == status
    active = ActiveVersion.objects.get(system=system, surface="prompt")
    assert active.version.number == (1 if status == 302 else 2)


def test_the_diff_shows_what_a_prompt_change_added(client_for, system, prompts, viewer):
    response = client_for(viewer).get("/systems/refund-classifier/versions/prompt/compare/?a=1&b=2")
    kinds = [(line.kind, line.text) for line in response.context["lines"]]
    assert ("removed", "Label this refund.") in kinds
    assert ("added", "Label this refund. When unsure, say fraud.") in kinds


def test_an_incident_offers_to_roll_back_the_change_that_preceded_it(
    client_for, system, prompts, lead
):
    incident = incident_declare(
        actor=lead,
        title="Fraud flags tripled",
        systems=[system],
        harm="wrong",
        onset_at=timezone.now() - timedelta(hours=1),
    )
    content = client_for(lead).get(incident.get_absolute_url()).content.decode()
    assert "Prompt v1 → v2" in content
    assert "Roll back to v1" in content


@pytest.mark.parametrize(("who", "saved"), [("owner", True), ("responder", False)])
def test_the_owner_sets_the_config_schema_from_the_page(client_for, system, request, who, saved):
    response = client_for(request.getfixturevalue(who)).post(
        "/systems/refund-classifier/versions/config-schema/",
        {"schema": '{"type": "object", "required": ["route"]}'},
    )
    assert response.status_code == (302 if saved else 403)
    assert ConfigSchema.objects.filter(system=system).exists() is saved


def test_a_config_version_breaking_the_schema_is_a_400_naming_the_parameter(
    client_for, system, responder
):
    response = client_for(responder).post(
        "/systems/refund-classifier/versions/new/",
        {"surface": "config", "params": '{"temperature": 5}'},
    )
    assert response.status_code == 400
    assert "5 is greater than the maximum of 2" in response.content.decode()
    assert not Version.objects.exists()


def test_on_the_page_a_request_waits_and_only_another_person_can_approve_it(
    client_for, system, prompts, responder, lead
):
    system.requires_deploy_approval = True
    system.save()
    client_for(responder).post(
        "/systems/refund-classifier/versions/prompt/1/activate/", {"reason": "Back to v1"}
    )
    change = ChangeRequest.objects.get()
    own_page = client_for(responder).get("/systems/refund-classifier/versions/").content.decode()
    assert "needs someone else" in own_page
    refused = client_for(responder).post(
        f"/systems/refund-classifier/versions/requests/{change.pk}/", {"decision": "approve"}
    )
    assert refused.status_code == 302
    assert ActiveVersion.objects.get(system=system, surface="prompt").version.number == 2
    client_for(lead).post(
        f"/systems/refund-classifier/versions/requests/{change.pk}/", {"decision": "approve"}
    )
    assert ActiveVersion.objects.get(system=system, surface="prompt").version.number == 1
