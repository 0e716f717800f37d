import pytest

from systems.models import AISystem
from tests.factories import ActionTypeFactory

pytestmark = pytest.mark.django_db


def test_people_with_a_role_list_systems_with_their_action_catalog(client_for, viewer, system):
    ActionTypeFactory(system=system, name="account_hold", reversible=False, user_visible=True)
    response = client_for(viewer).get("/api/v1/systems")
    assert response.status_code == 200
    [listed] = response.json()["results"]
    assert listed["slug"] == "refund-classifier"
    assert listed["owner"] == "olga"
    assert listed["action_types"] == [
        {"name": "account_hold", "description": "", "reversible": False, "user_visible": True}
    ]


def test_an_outsider_gets_403_from_the_api(client_for, outsider, system):
    client = client_for(outsider)
    assert client.get("/api/v1/systems").status_code == 403
    assert client.get("/api/v1/systems/refund-classifier").status_code == 403


def test_systems_cannot_be_changed_through_the_read_only_api(client_for, admin_user, system):
    response = client_for(admin_user).delete("/api/v1/systems/refund-classifier")
    assert response.status_code == 405
    assert response.json() == {
        "errors": [{"field": None, "message": 'Method "DELETE" not allowed.'}]
    }
    assert AISystem.objects.filter(slug="refund-classifier").exists()


def test_an_unknown_system_is_a_404_in_the_error_shape(client_for, viewer):
    response = client_for(viewer).get("/api/v1/systems/nope")
    assert response.status_code == 404
    assert response.json() == {
        "errors": [{"field": None, "message": "No AISystem matches the given query."}]
    }
