"""Versions and deployments through the API: same rules as the page."""

import pytest

from rollbacks.models import ActiveVersion, Deployment, Version
from systems.services import token_issue

pytestmark = pytest.mark.django_db

PROMPT = {"template": "Label: {request}", "variables": ["request"]}


def _add(client, content=PROMPT, surface="prompt"):
    return client.post(
        "/api/v1/systems/refund-classifier/versions",
        {"surface": surface, "content": content, "note": "n"},
        content_type="application/json",
    )


def _deploy(client, number, reason="Because"):
    return client.post(
        "/api/v1/systems/refund-classifier/deployments",
        {"surface": "prompt", "number": number, "reason": reason},
        content_type="application/json",
    )


def test_a_responder_adds_deploys_and_rolls_back_through_the_api(client_for, system, responder):
    client = client_for(responder)
    assert _add(client).status_code == 201
    assert _add(client, {"template": "New: {request}", "variables": ["request"]}).status_code == 201
    assert _deploy(client, 1).status_code == 201
    assert _deploy(client, 2).json()["kind"] == "deploy"
    rollback = _deploy(client, 1, "Over-flags")
    assert rollback.status_code == 201
    assert rollback.json() | {"at": None} == {
        "surface": "prompt",
        "kind": "rollback",
        "from_version": 2,
        "to_version": 1,
        "actor": "rosa",
        "reason": "Over-flags",
        "at": None,
    }
    listed = client.get("/api/v1/systems/refund-classifier/versions?surface=prompt").json()
    assert [v["reference"] for v in listed] == ["prompt@v2", "prompt@v1"]
    assert ActiveVersion.objects.get(system=system, surface="prompt").version.number == 1


def test_bad_versions_are_a_400_naming_the_field_and_write_nothing(client_for, system, responder):
    client = client_for(responder)
    alias = _add(
        client,
        {"provider": "openai", "name": "gpt-4o", "version_id": "latest"},
        surface="model",
    )
    assert alias.status_code == 400
    assert alias.json()["errors"][0]["field"] == "version_id"
    unknown = _add(client, {"template": "x", "tone": "warm"})
    assert unknown.json()["errors"][0]["field"] == "tone"
    assert not Version.objects.exists()


def test_deploying_a_version_that_does_not_exist_is_a_400(client_for, system, responder):
    client = client_for(responder)
    _add(client)
    _deploy(client, 1)
    response = _deploy(client, 9)
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "number"
    assert ActiveVersion.objects.get(system=system, surface="prompt").version.number == 1
    assert Deployment.objects.filter(system=system).count() == 1


def test_versions_cannot_be_changed_through_the_api(client_for, system, responder):
    client = client_for(responder)
    _add(client)
    for method in (client.put, client.patch, client.delete):
        response = method(
            "/api/v1/systems/refund-classifier/versions", {}, content_type="application/json"
        )
        assert response.status_code == 405
    assert Version.objects.get().content == PROMPT


@pytest.mark.parametrize("who", ["viewer", "outsider"])
def test_people_below_responder_cannot_add_or_deploy(client_for, system, request, who):
    client = client_for(request.getfixturevalue(who))
    assert _add(client).status_code == 403
    assert _deploy(client, 1).status_code == 403
    assert not Version.objects.exists()


def test_a_system_token_cannot_add_or_deploy(client, system, owner):
    _, raw = token_issue(actor=owner, system=system, name="p", scopes=["bundle:read"])
    response = client.post(
        "/api/v1/systems/refund-classifier/versions",
        {"surface": "prompt", "content": PROMPT},
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {raw}",
    )
    assert response.status_code == 403
    assert not Version.objects.exists()
