import pytest

from comms.models import StatusUpdate
from core.models import AuditEntry
from incidents.models import Incident, TimelineEntry
from incidents.services.incident import incident_declare
from incidents.services.timeline import incident_message_post
from tests.factories import ActionTypeFactory, IncidentFactory

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
    with django_assert_max_num_queries(10) as few:
        client.get("/incidents/")
    IncidentFactory.create_batch(27, systems=[system])
    with django_assert_max_num_queries(len(few.captured_queries)):
        response = client.get("/incidents/")
    assert len(response.context["incidents"]) == 30
    assert Incident.objects.count() == 30


def test_the_list_puts_open_incidents_first_then_the_newest(client_for, viewer, incidents):
    titles = [i.title for i in client_for(viewer).get("/incidents/?status=").context["incidents"]]
    assert titles[-1] == "Old index rebuild"


def test_the_list_counts_open_incidents_per_severity(client_for, viewer, incidents):
    counts = client_for(viewer).get("/incidents/").context["counts"]
    assert (counts["SEV1"], counts["SEV2"], counts["SEV3"]) == (1, 1, 0)


def test_the_list_filters_by_lead_and_by_no_lead(client_for, viewer, lead, incidents):
    Incident.objects.filter(pk=incidents["open_sev1"].pk).update(lead=lead)
    client = client_for(viewer)
    assert _titles(client.get("/incidents/?lead=lena")) == {"Replies quote other customers"}
    assert _titles(client.get("/incidents/?status=open&lead=none")) == {"Fraud share 2% to 9%"}


def test_the_list_is_paged_fifty_at_a_time(client_for, viewer, system):
    IncidentFactory.create_batch(51, systems=[system])
    client = client_for(viewer)
    first, second = client.get("/incidents/"), client.get("/incidents/?status=open&page=2")
    assert len(first.context["incidents"]) == 50
    assert len(second.context["incidents"]) == 1
    assert b"Page 1 of 2" in first.content


def test_each_incident_in_the_list_links_its_systems_runbook(client_for, viewer, incidents):
    content = client_for(viewer).get("/incidents/").content.decode()
    number = incidents["open_sev2"].number
    assert f"/incidents/{number}/#runbook-refund-classifier" in content


@pytest.fixture
def declared(system, lead):
    return incident_declare(
        actor=lead,
        title="Fraud flags tripled",
        systems=[system],
        harm="wrong",
        irreversible_actions=True,
        lead=lead,
    )


def test_the_incident_page_costs_the_same_queries_for_5_or_300_timeline_entries(
    client_for, viewer, responder, declared, django_assert_max_num_queries
):
    client = client_for(viewer)
    for n in range(4):
        incident_message_post(actor=responder, incident=declared, text=f"note {n}")
    with django_assert_max_num_queries(30) as few:
        client.get(declared.get_absolute_url())
    TimelineEntry.objects.bulk_create(
        TimelineEntry(incident=declared, kind="message", actor_label="rosa", text=f"n{n}")
        for n in range(295)
    )
    with django_assert_max_num_queries(len(few.captured_queries)):
        response = client.get(declared.get_absolute_url())
    assert len(response.context["entries"]) == 100
    assert response.context["earlier"] is not None


def test_earlier_timeline_entries_load_on_request(client_for, viewer, declared):
    TimelineEntry.objects.bulk_create(
        TimelineEntry(incident=declared, kind="message", actor_label="rosa", text=f"n{n}")
        for n in range(150)
    )
    client = client_for(viewer)
    earlier = client.get(declared.get_absolute_url()).context["earlier"]
    response = client.get(f"{declared.get_absolute_url()}timeline/?before={earlier}")
    assert response.status_code == 200
    assert len(response.context["entries"]) == 51  # the declaration and 50 messages
    assert response.context["earlier"] is None
    assert client.get(f"{declared.get_absolute_url()}timeline/?before=x").status_code == 400


def test_the_severity_scale_has_a_page_of_its_own(client_for, viewer):
    response = client_for(viewer).get("/incidents/severity/")
    assert response.status_code == 200
    cells = [(h.value, i.severity, r.severity) for h, _, i, r in response.context["rows"]]
    assert cells == [
        ("harmful", "SEV1", "SEV1"),
        ("wrong", "SEV1", "SEV2"),
        ("anomalous", "SEV3", "SEV3"),
    ]


@pytest.mark.parametrize(
    ("who", "status"), [("responder", 200), ("viewer", 403), ("outsider", 403)]
)
def test_only_responders_and_above_may_declare(request, client_for, who, status):
    response = client_for(request.getfixturevalue(who)).get("/incidents/new/")
    assert response.status_code == status


def test_declaring_in_the_browser_computes_the_severity_and_opens_the_page(
    client_for, responder, system
):
    response = client_for(responder).post(
        "/incidents/new/",
        {
            "title": "Fraud flags tripled",
            "systems": [system.pk],
            "harm": "wrong",
            "irreversible_actions": "yes",
            "onset_at": "2026-11-27T10:30",
            "tz": "Europe/Berlin",
        },
    )
    incident = Incident.objects.get()
    assert response.status_code == 302
    assert response.url == incident.get_absolute_url()
    assert incident.severity == "SEV1"
    assert incident.declared_by == responder
    assert incident.onset_at.isoformat() == "2026-11-27T09:30:00+00:00"  # 10:30 in Berlin


def test_an_override_without_a_reason_is_refused_and_nothing_is_declared(client_for, lead, system):
    response = client_for(lead).post(
        "/incidents/new/",
        {
            "title": "Fraud flags",
            "systems": [system.pk],
            "harm": "wrong",
            "irreversible_actions": "no",
            "severity": "SEV1",
        },
    )
    assert response.status_code == 400
    assert "needs a reason" in response.context["form"].errors["severity_override_reason"][0]
    assert not Incident.objects.exists()


def test_a_responder_is_not_offered_an_override_and_gets_the_scales_severity(
    client_for, responder, system
):
    client = client_for(responder)
    assert "severity" not in client.get("/incidents/new/").context["form"].fields
    client.post(
        "/incidents/new/",
        {
            "title": "Fraud flags",
            "systems": [system.pk],
            "harm": "wrong",
            "irreversible_actions": "no",
            "severity": "SEV1",
            "severity_override_reason": "I say so",
        },
    )
    assert Incident.objects.get().severity == "SEV2"


def test_declaring_without_a_system_names_the_field(client_for, responder):
    response = client_for(responder).post("/incidents/new/", {"title": "Something"})
    assert response.status_code == 400
    assert "systems" in response.context["form"].errors
    assert not Incident.objects.exists()


def test_the_declare_form_prefills_irreversible_actions_from_the_catalog(
    client_for, responder, system
):
    ActionTypeFactory(system=system, name="account_hold", reversible=False)
    response = client_for(responder).get("/incidents/new/?system=refund-classifier")
    assert response.context["form"].initial["irreversible_actions"] == "yes"


def test_the_severity_preview_says_what_the_scale_gives_and_why(client_for, responder, system):
    ActionTypeFactory(system=system, name="account_hold", reversible=False)
    response = client_for(responder).get(
        f"/incidents/severity/preview/?harm=wrong&systems={system.pk}"
    )
    content = response.content.decode()
    assert "SEV1" in content
    assert "Wrong outputs that set off irreversible actions are SEV1." in content


def test_classifying_with_htmx_swaps_the_response_panel(client_for, responder, system):
    incident = incident_declare(actor=responder, title="Shift", systems=[system])
    response = client_for(responder).post(
        f"/incidents/{incident.number}/classify/",
        {"harm": "harmful", "irreversible_actions": "no"},
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 200
    assert b'id="response"' in response.content
    assert b"Contain first, diagnose second" in response.content
    incident.refresh_from_db()
    assert incident.severity == "SEV1"


def test_a_refused_move_is_shown_beside_the_panel_and_changes_nothing(client_for, lead, declared):
    response = client_for(lead).post(
        f"/incidents/{declared.number}/status/", {"status": "closed"}, HTTP_HX_REQUEST="true"
    )
    assert response.status_code == 422
    assert b"Closing needs the postmortem" in response.content or b"cannot go from" in (
        response.content
    )
    declared.refresh_from_db()
    assert declared.status == "triage"


@pytest.mark.parametrize(
    ("who", "status"), [("lead", 302), ("responder", 302), ("viewer", 403), ("outsider", 403)]
)
def test_posting_a_status_update_needs_the_responder_role(
    request, client_for, declared, who, status
):
    response = client_for(request.getfixturevalue(who)).post(
        f"/incidents/{declared.number}/updates/",
        {"known": "Holds fire", "doing": "Kill switch"},
    )
    assert response.status_code == status
    assert StatusUpdate.objects.exists() is (status == 302)


def test_a_message_with_markup_is_shown_as_text_on_the_page(client_for, responder, declared):
    client = client_for(responder)
    response = client.post(
        f"/incidents/{declared.number}/messages/",
        {"text": '<img src=x onerror="alert(1)">'},
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 200
    assert declared.timeline.filter(kind="message", text='<img src=x onerror="alert(1)">').exists()
    page = client.get(declared.get_absolute_url()).content.decode()
    assert '<img src=x onerror="alert(1)">' not in page
    assert "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;" in page


def test_handing_over_the_lead_from_the_page_is_one_audited_action(
    client_for, lead, responder, declared
):
    response = client_for(lead).post(
        f"/incidents/{declared.number}/people/", {"role": "lead", "person": "rosa"}
    )
    assert response.status_code == 302
    declared.refresh_from_db()
    assert declared.lead == responder
    assert AuditEntry.objects.filter(verb="incident.people").count() == 1
    assert declared.timeline.filter(kind="people", text__contains="lena → rosa").exists()


def test_a_colleague_who_is_not_the_lead_cannot_hand_it_over(client_for, responder, declared):
    response = client_for(responder).post(
        f"/incidents/{declared.number}/people/", {"role": "lead", "person": "rosa"}
    )
    assert response.status_code == 403
    declared.refresh_from_db()
    assert declared.lead.username == "lena"
