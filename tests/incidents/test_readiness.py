from datetime import timedelta

import pytest
from django.utils import timezone

from incidents.readiness import readiness_of
from systems.selectors import system_list_for_readiness
from systems.services import mode_drill, runbook_revise, token_issue
from tests.factories import ActionTypeFactory, AISystemFactory

pytestmark = pytest.mark.django_db


def _readiness(slug):
    return readiness_of(system_list_for_readiness().get(slug=slug))


def test_a_bare_system_misses_everything_but_its_owner(owner):
    AISystemFactory(slug="bare", owner=owner, degraded_behaviour="")
    readiness = _readiness("bare")
    assert [c.name for c in readiness.missing] == [
        "Runbook written",
        "Downstream actions catalogued",
        "Degraded behaviour declared",
        "Human fallback path",
        "Reports to Failsafe",
        "Kill switch drilled",
    ]
    assert readiness.score == 14


def test_a_system_with_every_artifact_scores_100(owner):
    system = AISystemFactory(
        slug="ready", owner=owner, has_human_fallback=True, human_fallback="Queue"
    )
    ActionTypeFactory(system=system)
    runbook_revise(actor=owner, system=system, body="1. Degrade")
    token_issue(actor=owner, system=system, name="p", scopes=["mode:read"])
    mode_drill(actor=owner, system=system)
    assert _readiness("ready").score == 100


def test_a_drill_older_than_ninety_days_no_longer_counts(owner):
    system = AISystemFactory(slug="stale", owner=owner)
    mode_drill(actor=owner, system=system)
    drilled = _readiness("stale")
    later = readiness_of(
        system_list_for_readiness().get(slug="stale"), now=timezone.now() + timedelta(days=91)
    )
    assert "Kill switch drilled" not in [c.name for c in drilled.missing]
    assert "Kill switch drilled" in [c.name for c in later.missing]


def test_a_revoked_token_does_not_count_as_reporting(owner):
    from systems.services import token_revoke

    system = AISystemFactory(slug="revoked", owner=owner)
    token, _ = token_issue(actor=owner, system=system, name="p", scopes=["mode:read"])
    token_revoke(actor=owner, token=token)
    assert "Reports to Failsafe" in [c.name for c in _readiness("revoked").missing]


def test_the_readiness_page_shows_each_system_to_a_viewer_and_not_an_outsider(
    client_for, viewer, outsider, system
):
    response = client_for(viewer).get("/readiness/")
    assert response.status_code == 200
    assert b"Refund classifier" in response.content
    assert client_for(outsider).get("/readiness/").status_code == 403
