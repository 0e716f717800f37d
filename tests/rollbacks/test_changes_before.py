"""The first question of attribution, answered on the incident page: what changed?"""

from datetime import timedelta

import pytest
from django.utils import timezone

from incidents.services.incident import incident_declare
from rollbacks.services import version_add, version_deploy
from systems.services import mode_change

pytestmark = pytest.mark.django_db


def test_the_incident_page_lists_what_changed_in_the_48_hours_before_onset(
    client_for, system, other_system, lead, responder, viewer
):
    now = timezone.now()

    def ship(target, template, ago, reason):
        version = version_add(
            actor=responder,
            system=target,
            surface="prompt",
            content={"template": template + " {r}", "variables": ["r"]},
        )
        version_deploy(actor=responder, version=version, reason=reason, at=now - ago)

    ship(system, "Old", timedelta(days=5), "Too old to matter")
    ship(system, "Lean to fraud", timedelta(hours=3), "Cut chargebacks")
    ship(other_system, "Elsewhere", timedelta(hours=2), "Another system")
    incident = incident_declare(
        actor=lead,
        title="Fraud flags tripled",
        systems=[system],
        harm="wrong",
        onset_at=now - timedelta(hours=1),
    )
    mode_change(actor=responder, system=system, mode="off", reason="After onset: not a cause")

    page = client_for(viewer).get(incident.get_absolute_url())
    changes = page.context["changes_before"]
    assert [(c["what"], c["reason"]) for c in changes] == [("Prompt v1 → v2", "Cut chargebacks")]
    assert "Cut chargebacks" in page.content.decode()


def test_the_change_timeline_lists_deployments_and_mode_changes_newest_first(
    client_for, system, responder, viewer, outsider
):
    version = version_add(
        actor=responder,
        system=system,
        surface="prompt",
        content={"template": "Hi {r}", "variables": ["r"]},
    )
    version_deploy(actor=responder, version=version, reason="Launch")
    mode_change(actor=responder, system=system, mode="off", reason="Stop")
    response = client_for(viewer).get("/systems/refund-classifier/versions/changes/")
    assert [c["what"] for c in response.context["changes"]] == [
        "Mode ai → off",
        "Prompt first → v1",
    ]
    assert (
        client_for(outsider).get("/systems/refund-classifier/versions/changes/").status_code == 403
    )
