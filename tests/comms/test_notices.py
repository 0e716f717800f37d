"""Per-subject notices: a CSV of the people affected with the published message, for
targeted notification. The lead's alone, and recorded each time it is taken."""

import csv
import io
from datetime import timedelta

import pytest

from comms.services.communications import (
    communication_approve,
    communication_publish,
    communication_save,
)
from core.models import AuditEntry
from incidents.models import TimelineEntry
from monitoring.services.ingest import events_ingest
from tests.comms.builders import PARTS

pytestmark = pytest.mark.django_db


@pytest.fixture
def published(sev1, lead):
    communication_save(actor=lead, incident=sev1, parts=PARTS)
    communication_approve(actor=lead, incident=sev1, version_number=1)
    return communication_publish(actor=lead, incident=sev1, version_number=1)


def _rows(response):
    return list(csv.DictReader(io.StringIO(response.content.decode())))


def test_the_lead_exports_one_row_per_affected_subject_with_the_message(
    client_for, sev1, published, lead
):
    response = client_for(lead).get(f"/incidents/{sev1.number}/communications/notices.csv")
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv"
    assert response["Cache-Control"] == "no-store"
    assert f"INC-{sev1.number}-update-1-notices.csv" in response["Content-Disposition"]
    rows = {row["subject"]: row for row in _rows(response)}
    assert set(rows) == {"alice", "bob", "carol", "dan", "erin"}  # not "early": before onset
    assert rows["alice"]["outputs"] == "2"
    assert rows["alice"]["actions"] == "account hold (2)"
    assert rows["bob"]["actions"] == "account hold (1), review queue (1)"
    assert (rows["alice"]["saw_an_action"], rows["dan"]["saw_an_action"]) == ("yes", "no")
    assert rows["carol"]["actions"] == ""
    assert rows["alice"]["message"].startswith(PARTS["headline"] + "\n\nWhat happened:\n")
    entry = AuditEntry.objects.get(verb="comms.notices_export")
    assert (entry.actor, entry.after) == (lead, {"subjects": 5})
    assert TimelineEntry.objects.filter(
        incident=sev1, text__startswith="Exported per-subject notices"
    ).exists()


def test_a_subject_that_looks_like_a_formula_is_defused(client_for, system, sev1, published, lead):
    events_ingest(
        system=system,
        payload={
            "events": [
                {
                    "id": "formula",
                    "ts": (sev1.onset_at + timedelta(minutes=1)).isoformat(),
                    "output": {"label": "fraud"},
                    "subject": '=HYPERLINK("http://evil")',
                }
            ]
        },
    )
    rows = _rows(client_for(lead).get(f"/incidents/{sev1.number}/communications/notices.csv"))
    (formula,) = [r for r in rows if "HYPERLINK" in r["subject"]]
    assert formula["subject"].startswith("'=")


@pytest.mark.parametrize("who", ["responder", "viewer", "outsider"])
def test_only_the_lead_takes_the_list_of_affected_people(client_for, request, sev1, published, who):
    response = client_for(request.getfixturevalue(who)).get(
        f"/incidents/{sev1.number}/communications/notices.csv"
    )
    assert response.status_code == 403
    assert not AuditEntry.objects.filter(verb="comms.notices_export").exists()


def test_there_are_no_notices_before_anything_is_published(client_for, sev1, lead):
    url = f"/incidents/{sev1.number}/communications/notices.csv"
    assert client_for(lead).get(url).status_code == 404
    assert client_for(lead).get(url + "?update=x").status_code == 400
