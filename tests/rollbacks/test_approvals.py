"""Review before change, break-glass in an incident, and deployments at a later time."""

import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from core.models import AuditEntry
from incidents.services.incident import incident_declare
from rollbacks.models import ActiveVersion, ChangeRequest, Deployment
from rollbacks.services import (
    DeploymentRefused,
    change_decide,
    deployments_send_due,
    version_activate,
    version_add,
    version_deploy,
)
from rollbacks.tasks import deployments_send_due as deployments_task

pytestmark = pytest.mark.django_db


def _prompts(system, actor, count=2):
    return [
        version_add(
            actor=actor,
            system=system,
            surface="prompt",
            content={"template": f"Version {n} {{r}}", "variables": ["r"]},
        )
        for n in range(1, count + 1)
    ]


def _another(system, actor):
    return version_add(
        actor=actor,
        system=system,
        surface="prompt",
        content={"template": "Another {r}", "variables": ["r"]},
    )


def _active(system):
    return ActiveVersion.objects.get(system=system, surface="prompt").version.number


@pytest.fixture
def guarded(system, owner, responder):
    """A system whose deployments need a second person; v1 then v2 active."""
    first, second = _prompts(system, owner)
    version_deploy(actor=owner, version=first, reason="Launch")
    version_deploy(actor=owner, version=second, reason="Change")
    system.requires_deploy_approval = True
    system.save()
    return first, second


def test_with_approval_required_a_deployment_waits_for_a_second_person(
    system, guarded, responder, lead
):
    third = _another(system, responder)
    request = version_activate(actor=responder, version=third, reason="Sharper prompt")
    assert isinstance(request, ChangeRequest) and request.state == "pending"
    assert _active(system) == 2

    with pytest.raises(DeploymentRefused, match="not the author"):
        change_decide(actor=responder, request=request, approve=True)
    assert _active(system) == 2

    change_decide(actor=lead, request=request, approve=True)
    request.refresh_from_db()
    assert (request.state, request.decided_by, _active(system)) == ("deployed", lead, 3)
    assert AuditEntry.objects.filter(verb="version.approve").exists()


def test_a_rejected_request_never_deploys(system, guarded, responder, lead):
    request = version_activate(actor=responder, version=guarded[0], reason="Back to v1")
    change_decide(actor=lead, request=request, approve=False, reason="Not without a test")
    assert deployments_send_due(now=timezone.now() + timedelta(days=1)) == 0
    assert _active(system) == 2


def test_breaking_the_glass_rolls_back_at_once_during_an_open_incident_and_is_flagged(
    system, guarded, lead, responder
):
    incident_declare(actor=lead, title="Fraud flags", systems=[system], harm="wrong")
    deployment = version_activate(
        actor=responder, version=guarded[0], reason="Over-flags, no time to wait", break_glass=True
    )
    assert (deployment.kind, deployment.break_glass, _active(system)) == ("rollback", True, 1)
    assert AuditEntry.objects.filter(verb="version.rollback.break_glass").exists()


def test_the_glass_is_not_broken_without_an_open_incident_or_for_a_deployment(
    system, guarded, responder, lead
):
    with pytest.raises(DeploymentRefused, match="during an open incident"):
        version_activate(actor=responder, version=guarded[0], reason="Hurry", break_glass=True)
    incident_declare(actor=lead, title="Fraud flags", systems=[system], harm="wrong")
    third = _another(system, responder)
    with pytest.raises(DeploymentRefused, match="Only a rollback"):
        version_activate(actor=responder, version=third, reason="Hurry", break_glass=True)
    assert _active(system) == 2
    assert not Deployment.objects.filter(break_glass=True).exists()


def test_a_scheduled_deployment_fires_once_at_its_time(system, owner, responder):
    (first,) = _prompts(system, owner, 1)
    at = timezone.now() + timedelta(hours=2)
    request = version_activate(actor=responder, version=first, reason="Night", not_before=at)
    assert request.state == "approved"
    assert deployments_send_due(now=at - timedelta(minutes=1)) == 0
    assert not ActiveVersion.objects.exists()
    assert deployments_send_due(now=at) == 1
    assert deployments_send_due(now=at + timedelta(minutes=5)) == 0
    assert Deployment.objects.count() == 1
    assert _active(system) == 1


def test_scheduling_in_the_past_is_refused(system, owner, responder):
    (first,) = _prompts(system, owner, 1)
    with pytest.raises(DeploymentRefused) as refused:
        version_activate(
            actor=responder,
            version=first,
            reason="x",
            not_before=timezone.now() - timedelta(minutes=1),
        )
    assert refused.value.field == "not_before"


@pytest.mark.django_db(transaction=True)
def test_two_workers_sweeping_at_once_deploy_a_scheduled_change_once(system, owner, responder):
    (first,) = _prompts(system, owner, 1)
    at = timezone.now() + timedelta(minutes=1)
    version_activate(actor=responder, version=first, reason="Later", not_before=at)
    start, deployed = threading.Barrier(2), []

    def sweep():
        try:
            start.wait()
            deployed.append(deployments_send_due(now=at))
        finally:
            connection.close()

    threads = [threading.Thread(target=sweep) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sum(deployed) == 1
    assert Deployment.objects.count() == 1


def test_the_periodic_task_deploys_what_is_due(system, owner, responder):
    (first,) = _prompts(system, owner, 1)
    request = version_activate(
        actor=responder,
        version=first,
        reason="Soon",
        not_before=timezone.now() + timedelta(seconds=1),
    )
    ChangeRequest.objects.filter(pk=request.pk).update(
        not_before=timezone.now() - timedelta(seconds=1)
    )
    deployments_task.delay()
    assert _active(system) == 1
