"""Versioned surfaces: immutable versions, exactly one active, rollbacks on the record."""

import itertools
import threading

import pytest
from django.db import connection, transaction

from core.append_only import AppendOnlyError
from core.models import AuditEntry
from incidents.services.incident import incident_declare
from rollbacks.models import ActiveVersion, Deployment, Version
from rollbacks.services import (
    DeploymentRefused,
    config_schema_set,
    version_add,
    version_deploy,
    version_rollback,
)
from rollbacks.surfaces import InvalidVersion

pytestmark = pytest.mark.django_db

PROMPT_V1 = {"template": "Classify this refund: {request}", "variables": ["request"]}
PROMPT_V2 = {"template": "Classify this refund, flag fraud: {request}", "variables": ["request"]}


def _prompt(system, actor, content=PROMPT_V1):
    return version_add(actor=actor, system=system, surface="prompt", content=content)


def test_versions_are_numbered_per_surface(system, responder):
    first, second = _prompt(system, responder), _prompt(system, responder, PROMPT_V2)
    model = version_add(
        actor=responder,
        system=system,
        surface="model",
        content={"provider": "openai", "name": "gpt-4o", "version_id": "gpt-4o-2024-08-06"},
    )
    assert [first.reference, second.reference, model.reference] == [
        "prompt@v1",
        "prompt@v2",
        "model@v1",
    ]
    assert AuditEntry.objects.filter(verb="version.add").count() == 3


def test_a_version_cannot_be_changed_or_removed_by_any_path(system, responder):
    version = _prompt(system, responder)
    version.content = {"template": "changed"}
    with pytest.raises(AppendOnlyError):
        version.save()
    with pytest.raises(AppendOnlyError):
        Version.objects.filter(pk=version.pk).update(note="x")
    with pytest.raises(AppendOnlyError):
        version.delete()
    with (
        pytest.raises(Exception, match="immutable"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute("UPDATE rollbacks_version SET note = 'x' WHERE id = %s", [version.pk])


@pytest.mark.parametrize("alias", ["latest", "gpt-4o", "gpt-4o-latest", "claude:stable"])
def test_a_model_given_as_a_moving_alias_is_refused(system, responder, alias):
    with pytest.raises(InvalidVersion) as refused:
        version_add(
            actor=responder,
            system=system,
            surface="model",
            content={"provider": "openai", "name": "gpt-4o", "version_id": alias},
        )
    assert refused.value.field == "version_id"
    assert not Version.objects.exists()


def test_a_prompt_variable_missing_from_its_template_is_refused(system, responder):
    with pytest.raises(InvalidVersion, match="Not used in the template: customer"):
        _prompt(system, responder, {"template": "Hi {request}", "variables": ["customer"]})


def test_a_rollback_restores_the_earlier_version_and_is_on_every_open_incident(
    system, lead, responder
):
    first, second = _prompt(system, responder), _prompt(system, responder, PROMPT_V2)
    version_deploy(actor=responder, version=first, reason="First prompt")
    version_deploy(actor=responder, version=second, reason="Flag fraud too")
    incident = incident_declare(actor=lead, title="Fraud flags", systems=[system], harm="wrong")

    deployment = version_rollback(actor=lead, version=first, reason="The new prompt over-flags")

    active = ActiveVersion.objects.get(system=system, surface="prompt")
    assert active.version.content == PROMPT_V1
    assert (deployment.kind, deployment.from_version, deployment.to_version) == (
        "rollback",
        second,
        first,
    )
    entry = incident.timeline.get(kind="rollback")
    assert "prompt v2 → v1" in entry.text and "over-flags" in entry.text
    audit = AuditEntry.objects.get(verb="version.rollback")
    assert (audit.before, audit.after) == ({"active": "prompt@v2"}, {"active": "prompt@v1"})


def test_a_rollback_must_go_back_and_needs_a_reason(system, responder):
    first, second = _prompt(system, responder), _prompt(system, responder, PROMPT_V2)
    version_deploy(actor=responder, version=first, reason="First")
    with pytest.raises(DeploymentRefused, match="earlier version"):
        version_rollback(actor=responder, version=second, reason="Forward is not back")
    with pytest.raises(DeploymentRefused) as refused:
        version_deploy(actor=responder, version=second, reason=" ")
    assert refused.value.field == "reason"
    assert Deployment.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_concurrent_deployments_leave_exactly_one_active_and_lose_none(system, responder):
    versions = [_prompt(system, responder, {"template": f"v{n} {{r}}"}) for n in range(6)]
    start = threading.Barrier(len(versions))
    done = []

    def deploy(version):
        try:
            start.wait()
            done.append(version_deploy(actor=responder, version=version, reason="go").pk)
        finally:
            connection.close()

    threads = [threading.Thread(target=deploy, args=(v,)) for v in versions]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert len(done) == len(versions)
    deployments = list(Deployment.objects.filter(system=system).order_by("id"))
    # A chain: each deployment starts from the version the one before it made active.
    assert deployments[0].from_version is None
    for before, after in itertools.pairwise(deployments):
        assert after.from_version_id == before.to_version_id
    (active,) = ActiveVersion.objects.filter(system=system, surface="prompt")
    assert active.version_id == deployments[-1].to_version_id


def test_a_configuration_outside_the_systems_schema_is_refused_naming_the_parameter(
    system, responder
):
    with pytest.raises(InvalidVersion) as refused:
        version_add(
            actor=responder, system=system, surface="config", content={"params": {"temperature": 3}}
        )
    assert refused.value.field == "params.temperature"
    config_schema_set(
        actor=responder,
        system=system,
        schema={
            "type": "object",
            "properties": {"route": {"enum": ["fast", "careful"]}},
            "required": ["route"],
        },
    )
    with pytest.raises(InvalidVersion, match="'route' is a required property"):
        version_add(actor=responder, system=system, surface="config", content={"params": {"x": 1}})
    ok = version_add(
        actor=responder, system=system, surface="config", content={"params": {"route": "fast"}}
    )
    assert ok.reference == "config@v1"
    assert AuditEntry.objects.filter(verb="version.config_schema").exists()


def test_a_schema_that_is_not_json_schema_is_refused(system, responder):
    with pytest.raises(InvalidVersion, match="Not a valid JSON Schema"):
        config_schema_set(actor=responder, system=system, schema={"type": "nonsense"})
