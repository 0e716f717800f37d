"""Postmortems: opened on resolve with the incident's facts, action items that close it,
and overdue action items chased once."""

from datetime import timedelta

import pytest
from django.utils import timezone

from comms.models import Webhook, WebhookDelivery
from core.models import AuditEntry
from incidents.errors import IncidentError
from incidents.models import ActionItem, Incident, Postmortem, TimelineEntry
from incidents.services.incident import incident_declare, incident_status_change
from incidents.services.postmortems import (
    action_item_add,
    action_item_status,
    action_items_send_overdue,
)
from monitoring.services.ingest import events_ingest
from rollbacks.services import version_add, version_deploy, version_rollback
from systems.services import mode_change
from tests.factories import ActionTypeFactory

pytestmark = pytest.mark.django_db

V1 = {"template": "Label this refund.\n{request}", "variables": ["request"]}
V2 = {"template": "Label this refund; when unsure, say fraud.\n{request}", "variables": ["request"]}


@pytest.fixture
def built(system, owner, lead, responder):
    """An incident with a prompt change before its onset, holds that fired, a kill switch,
    a rollback, then resolved."""
    now = timezone.now()
    ActionTypeFactory(system=system, name="account_hold", reversible=False, user_visible=True)
    first = version_add(actor=owner, system=system, surface="prompt", content=V1)
    second = version_add(actor=owner, system=system, surface="prompt", content=V2)
    version_deploy(actor=owner, version=first, reason="Launch", at=now - timedelta(days=3))
    version_deploy(
        actor=owner, version=second, reason="Lean to fraud", at=now - timedelta(minutes=50)
    )
    onset = now - timedelta(minutes=45)
    events_ingest(
        system=system,
        payload={
            "events": [
                {
                    "id": f"e-{n}",
                    "ts": (onset + timedelta(minutes=1, seconds=n)).isoformat(),
                    "output": {"label": "fraud"},
                    "actions": [{"type": "account_hold", "subject": f"cus-{n % 7}"}],
                    "subject": f"cus-{n % 7}",
                }
                for n in range(20)
            ]
        },
    )
    incident = incident_declare(
        actor=lead,
        title="Fraud flags tripled",
        systems=[system],
        harm="wrong",
        irreversible_actions=True,
        lead=lead,
        onset_at=onset,
        declared_at=now - timedelta(minutes=30),
    )
    mode_change(actor=responder, system=system, mode="off", reason="Stop the holds")
    version_rollback(actor=responder, version=first, reason="The new prompt over-flags")
    for status in ("investigating", "contained", "mitigated", "resolved"):
        incident = Incident.objects.get(pk=incident.pk)
        if incident.status != status:
            incident_status_change(actor=lead, incident=incident, status=status)
    return Incident.objects.get(pk=incident.pk)


def test_resolving_opens_the_postmortem_with_the_incidents_facts(built):
    postmortem = Postmortem.objects.get(incident=built)
    facts = postmortem.facts
    assert facts["time_to_detect"] == 15 * 60
    assert facts["contained"] is not None
    assert facts["changes_before"][0]["what"] == "Prompt v1 → v2"
    assert facts["rollbacks"][0]["what"] == "prompt v2 → v1"
    assert facts["rollbacks"][0]["verification"] == "nothing"  # no monitor alerted
    assert facts["blast_radius"]["outputs"] == 20
    assert facts["blast_radius"]["subjects"] == 7
    assert facts["blast_radius"]["irreversible"] == 20
    assert "Prompt v1 → v2" in postmortem.root_cause
    assert "It ran 15 min before detection" in postmortem.detection
    assert "20 account_hold (irreversible)" in postmortem.blast_radius
    assert built.timeline.filter(kind=TimelineEntry.Kind.POSTMORTEM).exists()
    assert AuditEntry.objects.filter(verb="postmortem.open").count() == 1


def test_an_incident_closes_only_once_its_postmortem_has_an_action_item(built, lead, responder):
    with pytest.raises(IncidentError, match="at least one action item"):
        incident_status_change(actor=lead, incident=built, status="closed")
    action_item_add(
        actor=responder,
        postmortem=built.postmortem,
        title="Alert on the fraud share within minutes",
        owner=responder,
        due=timezone.localdate() + timedelta(days=14),
        category=ActionItem.Category.DETECTION_GAP,
    )
    closed = incident_status_change(actor=lead, incident=built, status="closed")
    assert closed.status == "closed"


@pytest.mark.parametrize(
    ("change", "field"),
    [({"title": " "}, "title"), ({"category": "vibes"}, "category"), ({"due": None}, "due")],
)
def test_an_action_item_needs_a_title_an_owner_a_due_date_and_a_category(
    built, responder, change, field
):
    fields = {
        "title": "Gate account holds",
        "owner": responder,
        "due": timezone.localdate(),
        "category": "blast_radius",
    } | change
    with pytest.raises(IncidentError) as refused:
        action_item_add(actor=responder, postmortem=built.postmortem, **fields)
    assert refused.value.field == field
    assert not ActionItem.objects.exists()


def test_overdue_action_items_are_chased_once_in_the_room_and_by_webhook(
    built, responder, admin_user
):
    Webhook.objects.create(
        name="ops", url="http://127.0.0.1:9/hook", events=[Webhook.Event.ACTION_ITEM_OVERDUE]
    )
    item = action_item_add(
        actor=responder,
        postmortem=built.postmortem,
        title="Drill the kill switch monthly",
        owner=responder,
        due=timezone.localdate() - timedelta(days=1),
        category="containment",
    )
    assert action_items_send_overdue() == 1
    assert action_items_send_overdue() == 0
    delivery = WebhookDelivery.objects.get()
    assert delivery.payload["action_item"]["title"] == "Drill the kill switch monthly"
    assert "action item is overdue" in delivery.payload["text"]
    assert built.timeline.filter(text__startswith="Action item overdue").count() == 1
    action_item_status(actor=responder, item=item, status="done")
    item.refresh_from_db()
    assert item.status == "done"
    assert item.done_at is not None


@pytest.mark.parametrize(
    ("who", "read", "write"),
    [("lead", 200, 302), ("responder", 200, 302), ("viewer", 200, 403), ("outsider", 403, 403)],
)
def test_who_reads_and_writes_the_postmortem(client_for, built, request, who, read, write):
    client = client_for(request.getfixturevalue(who))
    url = f"/incidents/{built.number}/postmortem/"
    assert client.get(url).status_code == read
    saved = client.post(
        url,
        {
            "produced": "Twenty fraud flags <script>x</script>",
            "cause": "prompt",
            "root_cause": "The prompt told it to lean to fraud.",
            "detection": "",
            "containment": "",
            "blast_radius": "",
        },
    )
    assert saved.status_code == write
    stored = Postmortem.objects.get(incident=built)
    assert (stored.root_cause == "The prompt told it to lean to fraud.") == (write == 302)
    assert AuditEntry.objects.filter(verb="postmortem.edit").exists() == (write == 302)
    if write == 302:
        page = client.get(url).content
        assert b"<script>x</script>" not in page
        assert b"&lt;script&gt;x&lt;/script&gt;" in page
    added = client.post(
        f"/incidents/{built.number}/postmortem/items/",
        {
            "title": "Gate account holds",
            "owner": built.lead.pk,
            "due": "2030-01-01",
            "category": "blast_radius",
        },
    )
    assert added.status_code == write
    assert ActionItem.objects.exists() == (write == 302)


def test_the_action_items_page_lists_open_items_overdue_first(client_for, built, responder, viewer):
    for title, days in (("Later", 10), ("Late", -2)):
        action_item_add(
            actor=responder,
            postmortem=built.postmortem,
            title=title,
            owner=responder,
            due=timezone.localdate() + timedelta(days=days),
            category="other",
        )
    page = client_for(viewer).get("/incidents/action-items/").content.decode()
    assert page.index("Late<") < page.index("Later<")
    assert "overdue" in page
    assert client_for(viewer).get("/incidents/action-items/?owner=me").status_code == 200
