import pytest

from incidents.models import Incident
from tests.factories import IncidentFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def incidents(system, other_system):
    return {
        "open_sev1": IncidentFactory(
            title="Replies quote other customers",
            severity="SEV1",
            status="investigating",
            systems=[other_system],
        ),
        "open_sev2": IncidentFactory(
            title="Fraud share 2% to 9%", severity="SEV2", systems=[system]
        ),
        "resolved": IncidentFactory(
            title="Old index rebuild", severity="SEV3", status="resolved", systems=[system]
        ),
    }


def _titles(response):
    return {i.title for i in response.context["incidents"]}


def test_the_list_shows_open_incidents_unless_asked_otherwise(client_for, viewer, incidents):
    response = client_for(viewer).get("/incidents/")
    assert response.status_code == 200
    assert _titles(response) == {"Replies quote other customers", "Fraud share 2% to 9%"}


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("status=", {"Replies quote other customers", "Fraud share 2% to 9%", "Old index rebuild"}),
        ("status=resolved", {"Old index rebuild"}),
        ("status=&severity=SEV1", {"Replies quote other customers"}),
        ("status=&system=refund-classifier", {"Fraud share 2% to 9%", "Old index rebuild"}),
        ("status=open&system=refund-classifier&severity=SEV2", {"Fraud share 2% to 9%"}),
    ],
)
def test_the_list_filters_by_status_severity_and_system(
    client_for, viewer, incidents, query, expected
):
    assert _titles(client_for(viewer).get(f"/incidents/?{query}")) == expected


def test_filtering_with_htmx_returns_only_the_table(client_for, viewer, incidents):
    response = client_for(viewer).get("/incidents/?status=resolved", HTTP_HX_REQUEST="true")
    assert b"Old index rebuild" in response.content
    assert b"<nav" not in response.content


def test_the_list_and_a_page_are_closed_to_an_outsider(client_for, outsider, incidents):
    client = client_for(outsider)
    assert client.get("/incidents/").status_code == 403
    assert client.get(incidents["open_sev2"].get_absolute_url()).status_code == 403


def test_the_incident_page_shows_severity_status_and_systems(client_for, viewer, incidents):
    incident = incidents["open_sev1"]
    response = client_for(viewer).get(f"/incidents/{incident.number}/")
    assert response.status_code == 200
    content = response.content.decode()
    assert f"INC-{incident.number}" in content
    assert 'class="sev sev-sev1"' in content
    assert "Support reply drafter" in content


def test_an_unknown_incident_is_not_found(client_for, viewer):
    assert client_for(viewer).get("/incidents/424242/").status_code == 404


def test_the_api_lists_incidents_with_filters(client_for, viewer, incidents):
    response = client_for(viewer).get("/api/v1/incidents?severity=SEV1")
    assert response.status_code == 200
    [only] = response.json()["results"]
    assert only["reference"] == f"INC-{incidents['open_sev1'].number}"
    assert only["systems"] == ["support-reply"]


def test_the_api_rejects_a_bad_filter_naming_the_field(client_for, viewer, incidents):
    response = client_for(viewer).get("/api/v1/incidents?severity=SEV9")
    assert response.status_code == 400
    assert response.json() == {
        "errors": [
            {
                "field": "severity",
                "message": "Select a valid choice. SEV9 is not one of the available choices.",
            }
        ]
    }


def test_the_incident_list_costs_the_same_queries_for_3_or_30_incidents(
    client_for, viewer, system, django_assert_max_num_queries
):
    client = client_for(viewer)
    IncidentFactory.create_batch(3, systems=[system])
    with django_assert_max_num_queries(8) as few:
        client.get("/incidents/")
    IncidentFactory.create_batch(27, systems=[system])
    with django_assert_max_num_queries(len(few.captured_queries)):
        response = client.get("/incidents/")
    assert len(response.context["incidents"]) == 30
    assert Incident.objects.count() == 30
