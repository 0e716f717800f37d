"""Monitor pages and API, the incident's evidence and blast radius: who may do what, and
what people see (model output escaped)."""

import csv
import io
import re
from datetime import UTC, datetime, timedelta

import pytest

from core.models import AuditEntry
from incidents.services.incident import incident_declare
from monitoring.models import Monitor
from monitoring.selectors.incident import blast_radius
from monitoring.services.ingest import events_ingest
from monitoring.services.monitors import monitor_create
from tests.factories import ActionTypeFactory

pytestmark = pytest.mark.django_db

NOW = datetime.now(UTC).replace(microsecond=0)
MONITORS = "/systems/refund-classifier/monitors/"
API = "/api/v1/systems/refund-classifier/monitors"


@pytest.fixture
def catalog(system):
    ActionTypeFactory(system=system, name="account_hold", reversible=False, user_visible=True)
    ActionTypeFactory(system=system, name="review_queue", reversible=True, user_visible=False)


@pytest.fixture
def monitor(system, owner):
    return monitor_create(
        actor=owner, system=system, name="Fraud share", kind="category_share", target="fraud"
    )


def _event(n, at, **changes):
    return {
        "id": f"e-{n}",
        "ts": at.isoformat(),
        "output": {"label": "approve", "text": "ok"},
        "subject": f"c-{n}",
    } | changes


@pytest.mark.parametrize(
    ("who", "status"), [("owner", 200), ("viewer", 200), ("responder", 200), ("outsider", 403)]
)
def test_the_monitors_page_is_for_people_with_a_role(client_for, monitor, request, who, status):
    client = client_for(request.getfixturevalue(who))
    assert client.get(MONITORS).status_code == status
    assert client.get(f"{MONITORS}{monitor.pk}/").status_code == status


@pytest.mark.parametrize(
    ("who", "status"), [("owner", 302), ("responder", 302), ("viewer", 403), ("outsider", 403)]
)
def test_the_owner_and_responders_add_monitors_and_others_cannot(
    client_for, system, request, who, status
):
    response = client_for(request.getfixturevalue(who)).post(
        f"{MONITORS}new/",
        {
            "name": "Refusals",
            "kind": "refusal_rate",
            "baseline_days": 7,
            "min_shift": 2,
            "window_minutes": 10,
            "enabled": "on",
        },
    )
    assert response.status_code == status
    assert Monitor.objects.filter(name="Refusals").exists() == (status == 302)
    if status == 302:
        assert AuditEntry.objects.filter(verb="monitor.create").count() == 1


def test_a_bad_monitor_is_refused_with_the_field_named(client_for, system, responder, catalog):
    client = client_for(responder)
    form = {"name": "Holds", "baseline_days": 7, "min_shift": 2, "window_minutes": 10}
    bad = client.post(f"{MONITORS}new/", form | {"kind": "action_rate", "target": "refund"})
    assert bad.status_code == 400
    assert b"An action type of this system" in bad.content
    regex = client.post(f"{MONITORS}new/", form | {"kind": "pattern", "target": "(unclosed"})
    assert regex.status_code == 400
    assert b"Not a regular expression" in regex.content
    assert not Monitor.objects.exists()


def test_changing_a_monitor_relearns_its_baseline(client_for, monitor, owner):
    monitor.status, monitor.baseline = "ok", {"n": 900, "counts": {"x": 18}}
    monitor.save()
    response = client_for(owner).post(
        f"{MONITORS}{monitor.pk}/edit/",
        {
            "name": "Fraud share",
            "kind": "category_share",
            "target": "review",
            "baseline_days": 3,
            "min_shift": 1.5,
            "window_minutes": 10,
            "enabled": "on",
        },
    )
    assert response.status_code == 302
    monitor.refresh_from_db()
    assert (monitor.target, monitor.status, monitor.baseline) == ("review", "learning", {})
    assert AuditEntry.objects.get(verb="monitor.update").before["target"] == "fraud"


def test_monitors_through_the_api(client_for, system, responder, viewer, catalog):
    created = client_for(responder).post(
        API,
        {"name": "Holds", "kind": "action_rate", "target": "account_hold"},
        content_type="application/json",
    )
    assert created.status_code == 201
    assert created.json()["status"] == "learning"
    refused = client_for(responder).post(
        API,
        {"name": "Holds", "kind": "action_rate", "target": "nope"},
        content_type="application/json",
    )
    assert refused.status_code == 400
    assert refused.json()["errors"][0]["field"] == "target"
    assert client_for(viewer).post(API, {"name": "x", "kind": "refusal_rate"}).status_code == 403
    assert list(Monitor.objects.values_list("target", flat=True)) == ["account_hold"]
    assert [m["name"] for m in client_for(viewer).get(API).json()] == ["Holds"]
    alerts = client_for(viewer).get("/api/v1/systems/refund-classifier/alerts?status=open")
    assert alerts.status_code == 200
    assert alerts.json() == []
    assert (
        client_for(viewer).get("/api/v1/systems/refund-classifier/alerts?status=x").status_code
        == 400
    )


@pytest.fixture
def incident(system, catalog, responder):
    """Hand-built events: 3 before the onset, 6 during the incident, 2 after containment."""
    onset = NOW - timedelta(minutes=30)
    events = [_event(n, onset - timedelta(minutes=5)) for n in range(3)]
    during = onset + timedelta(minutes=10)
    events += [
        _event(
            10,
            during,
            output={"label": "fraud"},
            subject="alice",
            actions=[{"type": "account_hold", "subject": "alice"}],
        ),
        _event(
            11,
            during,
            output={"label": "fraud"},
            subject="bob",
            actions=[
                {"type": "account_hold", "subject": "bob"},
                {"type": "review_queue", "subject": "bob"},
            ],
        ),
        _event(
            12,
            during,
            output={"label": "fraud"},
            subject="alice",
            actions=[{"type": "account_hold", "subject": "alice"}],
        ),
        _event(13, during, subject="carol"),
        _event(
            14,
            during,
            subject='=HYPERLINK("http://evil")',
            output={"label": "<script>alert(1)</script>"},
        ),
        _event(15, during, actions=[{"type": "unknown_action", "subject": "dan"}], subject="dan"),
    ]
    events += [_event(20 + n, NOW - timedelta(minutes=5)) for n in range(2)]
    events_ingest(system=system, payload={"events": events})
    found = incident_declare(actor=responder, title="Holds", systems=[system], onset_at=onset)
    found.contained_at = NOW - timedelta(minutes=10)
    found.save()
    return found


def test_the_blast_radius_counts_what_fired_between_onset_and_containment(incident):
    radius = blast_radius(incident)
    assert radius["outputs"] == 6
    assert radius["subjects"] == 5  # alice, bob, carol, the formula, dan
    assert radius["labels"] == {"fraud": 3, "approve": 2, "<script>alert(1)</script>": 1}
    by_type = {row["type"]: row for row in radius["actions"]}
    assert by_type["account_hold"] | {} == {
        "type": "account_hold",
        "count": 3,
        "subjects": 2,
        "reversible": False,
        "user_visible": True,
    }
    assert by_type["review_queue"]["reversible"] is True
    assert by_type["unknown_action"]["reversible"] is None
    assert radius["irreversible"] == 3
    assert radius["user_visible"] == 3


def test_the_incident_page_shows_the_blast_radius_with_model_output_escaped(
    client_for, incident, viewer
):
    page = client_for(viewer).get(f"/incidents/{incident.number}/")
    assert page.status_code == 200
    assert b'data-testid="blast-radius"' in page.content
    listing = client_for(viewer).get(f"/incidents/{incident.number}/blast-radius/")
    assert b"<script>alert(1)</script>" not in listing.content
    assert b"&lt;script&gt;alert(1)&lt;/script&gt;" in listing.content


def test_the_blast_radius_list_filters_and_exports_csv_without_formulas(
    client_for, incident, viewer, outsider
):
    client = client_for(viewer)
    holds = client.get(f"/incidents/{incident.number}/blast-radius/?action=account_hold")
    assert holds.content.count(b"<td>account_hold</td>") == 3
    exported = client.get(f"/incidents/{incident.number}/blast-radius/?format=csv")
    assert exported["Content-Type"] == "text/csv"
    rows = list(csv.DictReader(io.StringIO(b"".join(exported.streaming_content).decode())))
    assert len(rows) == 7  # one row per action, and one for each output that fired none
    assert {r["action_subject"] for r in rows if r["action"] == "account_hold"} == {"alice", "bob"}
    formula = next(r for r in rows if "HYPERLINK" in r["subject"])
    assert formula["subject"].startswith("'=")
    assert (
        client_for(outsider).get(f"/incidents/{incident.number}/blast-radius/").status_code == 403
    )


def test_the_severity_question_is_prefilled_from_the_blast_radius(
    client_for, incident, system, responder
):
    """The catalog could fire account holds; whether it did is what the events say."""
    page = client_for(responder).get(f"/incidents/{incident.number}/")
    assert re.search(rb'value="yes"[^>]*checked', page.content)
    quiet = incident_declare(
        actor=responder, title="Later", systems=[system], onset_at=NOW - timedelta(minutes=8)
    )
    page = client_for(responder).get(f"/incidents/{quiet.number}/")
    assert re.search(rb'value="no"[^>]*checked', page.content)
