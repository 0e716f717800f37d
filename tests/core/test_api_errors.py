"""What the fuzzer found about the API's refusals: a malformed id under /api/ answers the
error shape (not the 404 page), and the schema documents every refusal in that shape."""

import pytest

from tests.factories import AISystemFactory


def test_a_hold_id_that_is_not_a_uuid_is_a_404_in_the_error_shape(client_for, admin_user):
    AISystemFactory(slug="refund-classifier")

    response = client_for(admin_user).get("/api/v1/systems/refund-classifier/holds/not-a-uuid")

    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    assert response.json()["errors"][0]["field"] is None


def test_a_review_item_id_that_is_negative_is_a_404_in_the_error_shape(client_for, admin_user):
    response = client_for(admin_user).post(
        "/api/v1/review-items/-1/verdicts", {"correct": True}, content_type="application/json"
    )

    assert response.status_code == 404
    assert "errors" in response.json()


def test_a_page_that_does_not_exist_is_still_the_404_page(client_for, admin_user):
    response = client_for(admin_user).get("/no-such-page/")

    assert response.status_code == 404
    assert b"Nothing here" in response.content


@pytest.mark.django_db
def test_the_schema_documents_every_refusal_in_the_one_error_shape(client_for, admin_user):
    schema = client_for(admin_user).get("/api/schema/", {"format": "json"}).json()

    declare = schema["paths"]["/api/v1/incidents"]["post"]["responses"]
    assert {"400", "401", "403", "415"} <= set(declare)
    assert declare["400"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Errors"
    }
    incident = schema["components"]["schemas"]["Incident"]["properties"]
    assert incident["lead"]["nullable"] and incident["time_to_resolve"]["nullable"]
