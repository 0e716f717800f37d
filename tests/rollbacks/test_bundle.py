"""The bundle API: what the AI system loads, with an ETag, cheap while unchanged."""

import pytest

from rollbacks.services import version_add, version_deploy, version_rollback
from systems.services import token_issue

pytestmark = pytest.mark.django_db

V1 = {"template": "Classify: {request}", "variables": ["request"]}
V2 = {"template": "Classify and flag fraud: {request}", "variables": ["request"]}


@pytest.fixture
def token(system, owner):
    return token_issue(actor=owner, system=system, name="prod", scopes=["bundle:read"])[1]


def _bundle(client, token, **headers):
    return client.get(
        "/api/v1/systems/refund-classifier/bundle",
        HTTP_AUTHORIZATION=f"Bearer {token}",
        **headers,
    )


def test_the_bundle_serves_the_earlier_prompt_after_a_rollback(
    client, system, token, responder, lead, django_capture_on_commit_callbacks
):
    first = version_add(actor=responder, system=system, surface="prompt", content=V1)
    second = version_add(actor=responder, system=system, surface="prompt", content=V2)
    with django_capture_on_commit_callbacks(execute=True):
        version_deploy(actor=responder, version=first, reason="First")
        version_deploy(actor=responder, version=second, reason="Flag fraud")
    before = _bundle(client, token)
    assert before.json()["surfaces"]["prompt"]["content"] == V2
    assert before.json()["surfaces"]["model"] is None

    with django_capture_on_commit_callbacks(execute=True):
        version_rollback(actor=lead, version=first, reason="Over-flags")
    after = _bundle(client, token, HTTP_IF_NONE_MATCH=before["ETag"])
    assert after.status_code == 200
    assert after.json()["surfaces"]["prompt"] | {"deployed_at": None} == {
        "version": 1,
        "reference": "prompt@v1",
        "content": V1,
        "deployed_at": None,
        "deployed_by": "lena",
    }


def test_an_unchanged_bundle_is_a_304_without_a_database_query(
    client, system, token, django_assert_num_queries
):
    etag = _bundle(client, token)["ETag"]
    with django_assert_num_queries(0):
        assert _bundle(client, token, HTTP_IF_NONE_MATCH=etag).status_code == 304


def test_a_token_without_the_bundle_scope_or_of_another_system_is_refused(
    client, system, other_system, owner
):
    _, mode_only = token_issue(actor=owner, system=system, name="m", scopes=["mode:read"])
    assert _bundle(client, mode_only).status_code == 403
    _, elsewhere = token_issue(actor=owner, system=other_system, name="b", scopes=["bundle:read"])
    assert _bundle(client, elsewhere).status_code == 403


@pytest.mark.parametrize(("who", "status"), [("viewer", 200), ("outsider", 403)])
def test_people_read_the_bundle_with_the_viewer_role(client_for, system, request, who, status):
    response = client_for(request.getfixturevalue(who)).get(
        "/api/v1/systems/refund-classifier/bundle"
    )
    assert response.status_code == status
