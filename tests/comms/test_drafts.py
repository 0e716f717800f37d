"""External communication drafts: prefilled in plain words from the incident, checked,
saved as immutable versions, approved by the lead (a specific version), then published."""

import re
from datetime import timedelta

import pytest
from django.utils import timezone

from comms.errors import CommunicationRefused
from comms.models import CommApproval, CommTemplate, Communication, CommVersion
from comms.selectors import communication_facts, prefill
from comms.services.communications import (
    communication_approve,
    communication_publish,
    communication_save,
)
from core.append_only import AppendOnlyError
from core.models import AuditEntry
from incidents.models import TimelineEntry
from rollbacks.services import version_add, version_deploy, version_rollback
from systems.services import mode_change
from tests.comms.builders import PARTS

pytestmark = pytest.mark.django_db

V1 = {"template": "Label this refund.\n{request}", "variables": ["request"]}
V2 = {"template": "Label it. When unsure, say fraud.\n{request}", "variables": ["request"]}


def _page(client, incident):
    return client.get(f"/incidents/{incident.number}/communications/")


def _save(client, incident, based_on="", **changes):
    return client.post(
        f"/incidents/{incident.number}/communications/draft/",
        {**PARTS, **changes, "based_on": based_on},
    )


# --- Prefilled from the incident ----------------------------------------------------------


def test_a_new_draft_is_prefilled_in_plain_words_from_the_incident(
    client_for, system, sev1, lead, owner
):
    first = version_add(actor=owner, system=system, surface="prompt", content=V1)
    second = version_add(actor=owner, system=system, surface="prompt", content=V2)
    version_deploy(
        actor=owner, version=first, reason="Launch", at=sev1.onset_at - timedelta(days=2)
    )
    version_deploy(
        actor=owner, version=second, reason="Lean", at=sev1.onset_at - timedelta(hours=1)
    )
    mode_change(actor=lead, system=system, mode="off", reason="Holds on good customers")
    version_rollback(actor=lead, version=first, reason="The new prompt over-flags")
    sev1.refresh_from_db()

    facts = communication_facts(sev1)
    assert facts["system"] == "Refund classifier"
    assert facts["customers"] == "5"  # alice, bob, carol, dan, erin
    assert facts["actions"] == "account hold (3)"  # staff review is not seen by users
    assert facts["containment"].endswith("we switched Refund classifier off.")
    assert facts["rollback"].endswith("we restored the previous version of Refund classifier.")
    assert facts["until"].endswith("UTC")

    form = _page(client_for(lead), sev1).context["form"]
    happened = form.initial["happened"]
    assert happened.startswith("Between ")
    assert "our automated Refund classifier made decisions that could harm" in happened
    assert form.initial["consequence"].startswith("This affected 5 people.")
    assert "switched Refund classifier off" in form.initial["done"]
    assert form.initial["based_on"] is None


def test_a_draft_starts_from_the_systems_own_template(client_for, system, sev1, lead):
    CommTemplate.objects.create(
        system=system,
        name="Holds",
        headline="Accounts held by mistake",
        happened="From {onset}, {system} held accounts it should not have.",
        consequence="{customers} customers; {actions}. {unknown}",
        done="{containment}",
        advice="Nothing to do.",
    )
    initial = prefill(sev1)
    assert initial["headline"] == "Accounts held by mistake"
    assert initial["happened"].endswith("Refund classifier held accounts it should not have.")
    assert initial["consequence"] == "5 customers; account hold (3). {unknown}"
    page = _page(client_for(lead), sev1)
    assert b"{unknown}" in page.content  # flagged beside the draft as unfilled
    assert b"A placeholder left unfilled" in page.content
    default = client_for(lead).get(f"/incidents/{sev1.number}/communications/?template=default")
    assert default.context["form"].initial["headline"] == "Problem with our Refund classifier"


def test_the_check_beside_the_draft_flags_jargon_and_previews_the_words(client_for, sev1, lead):
    response = client_for(lead).post(
        f"/incidents/{sev1.number}/communications/check/",
        {**PARTS, "happened": "A minor prompt change made the model hallucinate."},
    )
    assert response.status_code == 200
    findings = re.findall(r"<strong>“([^”]+)”</strong>", response.content.decode())
    assert findings == ["minor", "prompt", "model", "hallucinate"]
    assert b'data-testid="comm-preview"' in response.content
    assert b"A minor prompt change" in response.content
    assert not CommVersion.objects.exists()  # a check saves nothing


# --- Versions -----------------------------------------------------------------------------


def test_each_save_is_a_new_immutable_version_with_its_history(client_for, sev1, lead, responder):
    assert _save(client_for(responder), sev1).status_code == 302
    assert _save(client_for(lead), sev1, based_on=1, headline="Accounts wrongly held").status_code
    versions = list(CommVersion.objects.order_by("number"))
    assert [(v.number, v.author.username) for v in versions] == [(1, "rosa"), (2, "lena")]
    assert Communication.objects.get().number == 1
    with pytest.raises(AppendOnlyError):
        versions[0].headline = "Changed behind everyone's back"
        versions[0].save()
    page = _page(client_for(lead), sev1)
    assert page.context["latest"].number == 2
    assert page.context["form"].initial["headline"] == "Accounts wrongly held"
    assert b"Version 1</strong> \xc2\xb7 rosa" in page.content
    assert AuditEntry.objects.filter(verb="comms.draft").count() == 2
    drafted = TimelineEntry.objects.filter(incident=sev1, kind="communication")
    assert [e.text.split(":")[0] for e in drafted] == [
        "Drafted external update 1, version 1",
        "Drafted external update 1, version 2",
    ]


def test_saving_the_same_words_again_makes_no_new_version(sev1, lead):
    first = communication_save(actor=lead, incident=sev1, parts=PARTS)
    again = communication_save(actor=lead, incident=sev1, parts=PARTS, based_on=1)
    assert again == first
    assert CommVersion.objects.count() == 1


def test_a_save_on_top_of_a_colleagues_newer_version_is_refused_keeping_the_words(
    client_for, sev1, lead, responder
):
    communication_save(actor=responder, incident=sev1, parts=PARTS)
    communication_save(
        actor=responder, incident=sev1, parts={**PARTS, "advice": "Wait."}, based_on=1
    )
    stale = _save(client_for(lead), sev1, based_on=1, headline="My words")
    assert stale.status_code == 422
    assert b"rosa saved version 2 while you were editing" in stale.content
    assert stale.context["form"].data["headline"] == "My words"
    assert stale.context["form"].data["based_on"] == 2  # the next save builds on it
    assert CommVersion.objects.count() == 2
    assert _save(client_for(lead), sev1, based_on=2, headline="My words").status_code == 302


def test_every_part_is_needed(client_for, sev1, lead):
    response = _save(client_for(lead), sev1, advice="  ")
    assert response.status_code == 422
    assert not CommVersion.objects.exists()
    with pytest.raises(CommunicationRefused, match="What you should do"):
        communication_save(actor=lead, incident=sev1, parts={**PARTS, "advice": ""})


# --- Approval and publication --------------------------------------------------------------


def test_the_lead_approves_a_specific_version_and_an_edit_needs_approval_again(
    client_for, sev1, lead, responder
):
    communication_save(actor=responder, incident=sev1, parts=PARTS)
    url = f"/incidents/{sev1.number}/communications/approve/"
    assert client_for(lead).post(url, {"version": 1}).status_code == 302
    assert CommApproval.objects.get().version.number == 1
    communication_save(
        actor=responder, incident=sev1, parts={**PARTS, "advice": "Wait."}, based_on=1
    )
    page = _page(client_for(lead), sev1)
    assert page.context["latest_approval"] is None
    assert b"An earlier version was approved" in page.content
    with pytest.raises(CommunicationRefused, match="not approved yet"):
        communication_publish(actor=lead, incident=sev1, version_number=2)
    with pytest.raises(CommunicationRefused, match="Version 1 is not the latest"):
        communication_publish(actor=lead, incident=sev1, version_number=1)
    client_for(lead).post(url, {"version": 2})
    communication_publish(actor=lead, incident=sev1, version_number=2)
    assert Communication.objects.get().published_version.number == 2


def test_approving_an_older_version_is_refused(sev1, lead, responder):
    communication_save(actor=responder, incident=sev1, parts=PARTS)
    communication_save(
        actor=responder, incident=sev1, parts={**PARTS, "advice": "Wait."}, based_on=1
    )
    with pytest.raises(CommunicationRefused, match="Version 1 is not the latest: version 2 is"):
        communication_approve(actor=lead, incident=sev1, version_number=1)
    communication_approve(actor=lead, incident=sev1, version_number=2)
    with pytest.raises(CommunicationRefused, match="already approved by lena"):
        communication_approve(actor=lead, incident=sev1, version_number=2)


@pytest.mark.parametrize("action", ["approve", "publish"])
@pytest.mark.parametrize("who", ["responder", "viewer", "outsider"])
def test_only_the_lead_approves_and_publishes(client_for, request, sev1, lead, action, who):
    version = communication_save(actor=lead, incident=sev1, parts=PARTS)
    if action == "publish":
        communication_approve(actor=lead, incident=sev1, version_number=version.number)
    before = AuditEntry.objects.count()
    response = client_for(request.getfixturevalue(who)).post(
        f"/incidents/{sev1.number}/communications/{action}/", {"version": version.number}
    )
    assert response.status_code == 403
    assert AuditEntry.objects.count() == before
    assert not Communication.objects.filter(published_at__isnull=False).exists()
    assert CommApproval.objects.count() == (1 if action == "publish" else 0)


def test_a_responder_who_leads_the_incident_approves_and_publishes_their_own_draft(
    client_for, make_incident, responder_lead, responder
):
    incident = make_incident("SEV1", lead=responder_lead)
    client = client_for(responder_lead)
    assert _save(client, incident).status_code == 302
    base = f"/incidents/{incident.number}/communications"
    assert client.post(f"{base}/approve/", {"version": 1}).status_code == 302
    assert client.post(f"{base}/publish/", {"version": 1}).status_code == 302
    assert Communication.objects.get().published_by == responder_lead
    # Someone else's incident: the same responder is just a colleague there.
    other = make_incident("SEV1", lead=responder, title="Another")
    communication_save(actor=responder, incident=other, parts=PARTS)
    url = f"/incidents/{other.number}/communications/approve/"
    assert client.post(url, {"version": 1}).status_code == 403
    assert not CommApproval.objects.filter(version__communication__incident=other).exists()


@pytest.mark.parametrize(("who", "status"), [("viewer", 403), ("outsider", 403)])
def test_people_below_responder_cannot_draft(client_for, request, sev1, who, status):
    assert _save(client_for(request.getfixturevalue(who)), sev1).status_code == status
    check = client_for(request.getfixturevalue(who)).post(
        f"/incidents/{sev1.number}/communications/check/", PARTS
    )
    assert check.status_code == status
    assert not CommVersion.objects.exists()


@pytest.mark.parametrize(("who", "status"), [("viewer", 200), ("outsider", 403)])
def test_the_communication_page_is_for_people_with_a_role(client_for, request, sev1, who, status):
    page = _page(client_for(request.getfixturevalue(who)), sev1)
    assert page.status_code == status
    if status == 200:
        assert b'id="draft-form"' not in page.content  # a viewer reads, never drafts


def test_publishing_is_audited_on_the_timeline_and_happens_once(sev1, lead):
    communication_save(actor=lead, incident=sev1, parts=PARTS)
    communication_approve(actor=lead, incident=sev1, version_number=1)
    published = communication_publish(actor=lead, incident=sev1, version_number=1)
    assert published.published_at <= timezone.now()
    entry = AuditEntry.objects.get(verb="comms.publish")
    assert entry.after["headline"] == PARTS["headline"]
    assert entry.before == {"published_at": None}
    assert TimelineEntry.objects.filter(
        incident=sev1, kind="communication", text__startswith="Published external update 1"
    ).exists()
    with pytest.raises(CommunicationRefused, match="no draft to publish"):
        communication_publish(actor=lead, incident=sev1, version_number=1)


def test_after_publication_the_next_save_starts_the_next_update(sev1, lead):
    communication_save(actor=lead, incident=sev1, parts=PARTS)
    communication_approve(actor=lead, incident=sev1, version_number=1)
    communication_publish(actor=lead, incident=sev1, version_number=1)
    with pytest.raises(CommunicationRefused, match="published meanwhile"):
        communication_save(actor=lead, incident=sev1, parts=PARTS, based_on=1)
    follow_up = communication_save(actor=lead, incident=sev1, parts={**PARTS, "done": "Fixed."})
    assert (follow_up.communication.number, follow_up.number) == (2, 1)


def test_hostile_text_is_escaped_on_the_communication_page(client_for, sev1, lead):
    hostile = '<script>alert("x")</script><img src=x onerror=alert(1)>'
    communication_save(actor=lead, incident=sev1, parts={**PARTS, "headline": hostile})
    page = _page(client_for(lead), sev1).content.decode()
    assert hostile not in page
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in page
    incident_page = client_for(lead).get(sev1.get_absolute_url()).content.decode()
    assert "<script>alert(" not in incident_page
