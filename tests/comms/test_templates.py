"""A system's communication templates: written before the incident by its owner or an
incident lead, audited, and where a draft about the system starts."""

import pytest

from comms.models import CommTemplate
from core.models import AuditEntry
from tests.comms.builders import PARTS

pytestmark = pytest.mark.django_db

URL = "/systems/refund-classifier/communication-templates/"
FORM = {"name": "Wrong holds", **PARTS, "happened": "From {onset}, {system} held accounts."}


@pytest.mark.parametrize(("who", "status"), [("owner", 302), ("lead", 302), ("responder", 403)])
def test_the_owner_and_incident_leads_write_templates_and_colleagues_cannot(
    client_for, system, request, who, status
):
    response = client_for(request.getfixturevalue(who)).post(URL, FORM)
    assert response.status_code == status
    assert system.comm_templates.exists() == (status == 302)
    assert AuditEntry.objects.filter(verb="comms.template_create").count() == (status == 302)


@pytest.mark.parametrize(("who", "status"), [("viewer", 200), ("outsider", 403)])
def test_the_templates_page_is_for_people_with_a_role(client_for, system, request, who, status):
    page = client_for(request.getfixturevalue(who)).get(URL)
    assert page.status_code == status
    if status == 200:
        assert b"has no communication template yet" in page.content
        assert b"Add the template" not in page.content


def test_a_new_template_starts_from_the_default_wording_with_placeholders(
    client_for, system, owner
):
    page = client_for(owner).get(URL)
    assert page.context["form"].initial["headline"] == "Problem with our {system}"
    assert b"<code>{customers}</code>" in page.content


def test_a_template_is_changed_and_removed_with_each_step_audited(client_for, system, owner):
    client = client_for(owner)
    client.post(URL, FORM)
    template = CommTemplate.objects.get()
    prefix = f"t{template.pk}-"
    changed = {prefix + k: v for k, v in {**FORM, "advice": "Call us."}.items()}
    assert client.post(f"{URL}{template.pk}/", changed).status_code == 302
    template.refresh_from_db()
    assert template.advice == "Call us."
    update = AuditEntry.objects.get(verb="comms.template_update")
    assert (update.before["advice"], update.after["advice"]) == (PARTS["advice"], "Call us.")
    assert client.post(f"{URL}{template.pk}/remove/").status_code == 302
    assert not system.comm_templates.exists()
    assert AuditEntry.objects.filter(verb="comms.template_remove").exists()


def test_two_templates_of_a_system_cannot_share_a_name(client_for, system, owner):
    client = client_for(owner)
    client.post(URL, FORM)
    again = client.post(URL, {**FORM, "name": "WRONG HOLDS"})
    assert again.status_code == 422
    assert b"already has a template named" in again.content
    assert CommTemplate.objects.count() == 1
