"""Readiness: a score per system from facts, each gap with the link that fixes it."""

from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

from core.models import AuditEntry
from gate.services.rule_set import gate_rule_set
from groundtruth.models import ReviewItem, ReviewPlan
from groundtruth.services import review_plan_set
from monitoring.models import Event, Monitor
from monitoring.services.monitors import monitor_create
from response.readiness import readiness_of
from response.selectors import system_list_for_readiness
from rollbacks.models import ActiveVersion, Version
from rollbacks.services import version_add, version_deploy
from systems.models import ActionType, AISystem, ModeAck, ModeChange, RunbookVersion
from systems.services import (
    mode_client_report,
    mode_drill,
    runbook_mark_reviewed,
    runbook_revise,
    token_issue,
    token_revoke,
)
from tests.factories import ActionTypeFactory, AISystemFactory, Role, UserFactory

pytestmark = pytest.mark.django_db

# comms.CommTemplate is being built alongside; until AISystem has `comm_templates`,
# readiness leaves that check out rather than fail every system on it.

SURFACES = {
    "model": {"provider": "openai", "name": "gpt-4o-mini", "version_id": "gpt-4o-mini-2024-07-18"},
    "prompt": {"template": "Label {request}", "variables": ["request"]},
    "retrieval": {"source": "refund-policies", "snapshot_id": "2026-10-01"},
    "config": {"params": {"temperature": 0.0}},
}


def _readiness(system, now=None):
    return readiness_of(system_list_for_readiness().get(pk=system.pk), now=now)


def _missing(system, now=None) -> list[str]:
    return [c.name for c in _readiness(system, now).missing]


DRILLED = "Kill switch drilled, acknowledged by a client, in the last 90 days"


def _drill_check(system):
    return next(c for c in _readiness(system).checks if c.name == DRILLED)


def _waiting(system, n, sampled_at=None):
    """An output sampled for review that nobody has judged yet."""
    event = Event.objects.create(system=system, client_id=f"waiting-{n}", ts=timezone.now())
    return ReviewItem.objects.create(
        system=system, event=event, probability=0.1, sampled_at=sampled_at or timezone.now()
    )


def _ready(owner, slug="ready") -> AISystem:
    """A system with every artifact readiness asks for, each made the way the app makes it."""
    system = AISystemFactory(
        slug=slug, owner=owner, has_human_fallback=True, human_fallback="The refunds desk"
    )
    ActionTypeFactory(system=system)
    runbook_revise(actor=owner, system=system, body="1. Degrade")
    token_issue(actor=owner, system=system, name="production", scopes=["events:write"])
    drill = mode_drill(actor=owner, system=system)
    mode_client_report(system=system, client_id="worker-1", revision=drill.revision)
    for surface, content in SURFACES.items():
        version = version_add(actor=owner, system=system, surface=surface, content=content)
        version_deploy(actor=owner, version=version, reason="Launch")
    monitor = monitor_create(
        actor=owner, system=system, name="Fraud share", kind="category_share", target="fraud"
    )
    Monitor.objects.filter(pk=monitor.pk).update(status=Monitor.Status.OK)  # baseline learnt
    review_plan_set(actor=owner, system=system, per_day=10)
    Event.objects.create(system=system, client_id="reported", ts=timezone.now())
    system.comm_templates.create(
        name="Wrong decisions",
        headline="Some refund decisions were wrong",
        happened="Between {onset} and {contained}, some refund requests were mislabelled.",
        consequence="Your refund may have been held.",
        done="We stopped the automatic decisions and are reviewing each one.",
        advice="Nothing: we will contact you if your refund is affected.",
    )
    return system


def test_a_bare_system_misses_everything_but_its_owner_and_degraded_behaviour(owner):
    bare = AISystemFactory(slug="bare", owner=owner)
    assert _missing(bare) == [
        "Runbook reviewed in the last 90 days",
        DRILLED,
        "Human fallback declared",
        "Every surface versioned, the model pinned",
        "Monitors with baselines",
        "Ground truth sampled, the review queue within its target",
        "Communication template",
        "Downstream actions catalogued",
        "Reports to Failsafe",
    ]
    readiness = _readiness(bare)
    # What a bare system passes: its owner, degraded behaviour, and nothing to gate.
    assert readiness.score == round(100 * 3 / len(readiness.checks))


def test_a_system_with_every_artifact_scores_100(owner):
    readiness = _readiness(_ready(owner))
    assert readiness.missing == []
    assert readiness.score == 100


def _owner_leaves(system):
    get_user_model().objects.filter(pk=system.owner_id).update(is_active=False)


def _runbook_goes_stale(system):
    RunbookVersion.objects.filter(system=system).update(
        created_at=timezone.now() - timedelta(days=91)
    )


def _runbook_removed(system):
    RunbookVersion.objects.filter(system=system).delete()


def _no_client_acknowledges_the_drill(system):
    ModeAck.objects.filter(system=system).delete()


def _drill_goes_stale(system):
    ModeChange.objects.filter(system=system).update(at=timezone.now() - timedelta(days=91))


def _human_fallback_withdrawn(system):
    AISystem.objects.filter(pk=system.pk).update(has_human_fallback=False)


def _human_fallback_left_undescribed(system):
    AISystem.objects.filter(pk=system.pk).update(human_fallback="  ")


def _retrieval_not_deployed(system):
    ActiveVersion.objects.filter(system=system, surface="retrieval").delete()


def _model_unpinned(system):
    # Services refuse an unpinned model; a row written before that rule still can be one.
    unpinned = Version.objects.create(
        system=system,
        surface="model",
        number=99,
        content={"provider": "openai", "name": "gpt-4o"},
        created_by_label="legacy import",
    )
    ActiveVersion.objects.filter(system=system, surface="model").update(version=unpinned)


def _monitors_still_learning(system):
    Monitor.objects.filter(system=system).update(status=Monitor.Status.LEARNING)


def _monitors_disabled(system):
    Monitor.objects.filter(system=system).update(enabled=False)


def _sampling_paused(system):
    ReviewPlan.objects.filter(system=system).update(active=False)


def _queue_over_two_days_of_target(system):
    for n in range(21):  # per_day is 10: more than 20 waiting is behind
        _waiting(system, n)


def _an_output_waits_over_48_hours(system):
    _waiting(system, 0, sampled_at=timezone.now() - timedelta(hours=49))


def _catalog_emptied(system):
    ActionType.objects.filter(system=system).delete()


def _degraded_behaviour_cleared(system):
    AISystem.objects.filter(pk=system.pk).update(degraded_behaviour="")


def _comm_templates_removed(system):
    system.comm_templates.all().delete()


def _an_irreversible_action_ungated(system):
    ActionTypeFactory(system=system, name="refund_issue", reversible=False)


def _token_revoked(system):
    token_revoke(actor=system.owner, token=system.tokens.get())


def _silent_for_a_day(system):
    Event.objects.filter(system=system).update(ts=timezone.now() - timedelta(hours=25))


CRITERIA_BROKEN = [
    ("Named owner", _owner_leaves),
    ("Runbook reviewed in the last 90 days", _runbook_goes_stale),
    ("Runbook reviewed in the last 90 days", _runbook_removed),
    (DRILLED, _drill_goes_stale),
    (DRILLED, _no_client_acknowledges_the_drill),
    ("Human fallback declared", _human_fallback_withdrawn),
    ("Human fallback declared", _human_fallback_left_undescribed),
    ("Every surface versioned, the model pinned", _retrieval_not_deployed),
    ("Every surface versioned, the model pinned", _model_unpinned),
    ("Monitors with baselines", _monitors_still_learning),
    ("Monitors with baselines", _monitors_disabled),
    ("Ground truth sampled, the review queue within its target", _sampling_paused),
    ("Ground truth sampled, the review queue within its target", _queue_over_two_days_of_target),
    ("Ground truth sampled, the review queue within its target", _an_output_waits_over_48_hours),
    ("Communication template", _comm_templates_removed),
    ("Irreversible actions gated", _an_irreversible_action_ungated),
    ("Downstream actions catalogued", _catalog_emptied),
    ("Degraded behaviour declared", _degraded_behaviour_cleared),
    ("Reports to Failsafe", _token_revoked),
    ("Reports to Failsafe", _silent_for_a_day),
]


@pytest.mark.parametrize(
    ("criterion", "breaks"),
    CRITERIA_BROKEN,
    ids=[breaks.__name__.strip("_") for _, breaks in CRITERIA_BROKEN],
)
def test_each_fact_alone_takes_the_score_off_100(owner, criterion, breaks):
    system = _ready(owner)
    assert _readiness(system).score == 100
    breaks(system)
    readiness = _readiness(system)
    assert [c.name for c in readiness.missing] == [criterion]
    assert readiness.score < 100
    gap = readiness.missing[0]
    assert gap.detail and gap.fix and gap.url.startswith("/")


def test_a_queue_of_exactly_two_days_of_target_is_still_within_it(owner):
    system = _ready(owner)
    for n in range(20):
        _waiting(system, n, sampled_at=timezone.now() - timedelta(hours=47))
    assert "Ground truth sampled, the review queue within its target" not in _missing(system)


def test_a_drill_counts_only_once_a_client_acknowledges_it(owner):
    system = AISystemFactory(slug="drilled", owner=owner)
    drill = mode_drill(actor=owner, system=system)
    check = _drill_check(system)
    assert not check.passed
    assert "reached no client" in check.detail
    mode_client_report(system=system, client_id="worker-1", revision=drill.revision)
    assert _drill_check(system).passed


def test_an_acknowledged_drill_older_than_ninety_days_no_longer_counts(owner):
    system = _ready(owner, slug="stale")
    later = timezone.now() + timedelta(days=91)
    assert DRILLED in _missing(system, now=later)


def test_an_acknowledgement_of_a_later_revision_does_not_prove_an_earlier_drill(owner):
    system = AISystemFactory(slug="later", owner=owner)
    drill = mode_drill(actor=owner, system=system)
    mode_client_report(system=system, client_id="worker-1", revision=drill.revision + 1)
    assert not _drill_check(system).passed


def test_marking_the_runbook_reviewed_makes_a_stale_runbook_count_again(owner):
    system = _ready(owner, slug="reviewed")
    _runbook_goes_stale(system)
    assert "Runbook reviewed in the last 90 days" in _missing(system)
    runbook_mark_reviewed(actor=owner, system=system)
    assert "Runbook reviewed in the last 90 days" not in _missing(system)


def test_a_new_revision_counts_as_a_review(owner):
    system = _ready(owner, slug="revised")
    _runbook_goes_stale(system)
    runbook_revise(actor=owner, system=system, body="1. Degrade\n2. Page the refunds desk")
    assert "Runbook reviewed in the last 90 days" not in _missing(system)


def test_an_old_review_does_not_outlive_ninety_days(owner):
    system = _ready(owner, slug="old-review")
    runbook_mark_reviewed(actor=owner, system=system)
    later = timezone.now() + timedelta(days=91)
    assert "Runbook reviewed in the last 90 days" in _missing(system, now=later)


def test_an_irreversible_action_counts_as_gated_once_it_has_a_rule(owner):
    system = _ready(owner)
    hold = ActionTypeFactory(system=system, name="account_hold", reversible=False)
    assert _missing(system) == ["Irreversible actions gated"]
    gate_rule_set(actor=owner, action_type=hold, reason="Bound the holds")
    assert _missing(system) == []


# --- The page -------------------------------------------------------------------------------


@pytest.mark.parametrize("person", ["viewer", "reviewer", "responder", "lead", "admin_user"])
def test_any_role_may_see_the_readiness_page(client_for, request, person, system):
    response = client_for(request.getfixturevalue(person)).get("/readiness/")
    assert response.status_code == 200
    assert b"Refund classifier" in response.content


def test_an_outsider_may_not_see_the_readiness_page(client_for, outsider, system):
    assert client_for(outsider).get("/readiness/").status_code == 403


def test_the_page_shows_each_gap_with_the_link_that_fixes_it(client_for, viewer, system):
    page = client_for(viewer).get("/readiness/").content.decode()
    for link in [
        "/systems/refund-classifier/runbook/",
        "/systems/refund-classifier/#mode",
        "/systems/refund-classifier/edit/",
        "/systems/refund-classifier/versions/#surface-model",
        "/systems/refund-classifier/monitors/",
        "/systems/refund-classifier/monitors/#plan-title",
        "/systems/refund-classifier/#catalog",
        "/systems/refund-classifier/#tokens",
        "/systems/refund-classifier/communication-templates/",
    ]:
        assert f'href="{link}"' in page, link
    assert "No runbook: a stressed responder would have to improvise." in page
    assert "Never drilled" in page
    assert "Nothing deployed for: model, prompt, retrieval source, configuration" in page


def test_the_page_links_a_slow_queue_to_the_review_queue(client_for, viewer, owner):
    system = _ready(owner, slug="behind")
    _an_output_waits_over_48_hours(system)
    page = client_for(viewer).get("/readiness/").content.decode()
    assert 'href="/review/?system=behind"' in page
    assert "The oldest has waited 49 hours (48 hours at most)." in page


def test_the_page_costs_the_same_queries_for_two_or_six_systems(
    client_for, viewer, django_assert_max_num_queries
):
    client = client_for(viewer)
    for n in range(2):
        _ready(UserFactory(role=Role.RESPONDER), slug=f"ready-{n}")
    # Sign-in (session, person, role) + the systems with their facts + active versions.
    with django_assert_max_num_queries(8) as few:
        client.get("/readiness/")
    for n in range(2, 6):
        system = _ready(UserFactory(role=Role.RESPONDER), slug=f"ready-{n}")
        _waiting(system, 0)
        AISystemFactory(slug=f"bare-{n}")
    with django_assert_max_num_queries(len(few.captured_queries)):
        response = client.get("/readiness/")
    assert len(response.context["rows"]) == 10


# --- Marking the runbook reviewed ----------------------------------------------------------


def test_the_owner_marks_the_runbook_reviewed_and_it_is_audited(client_for, owner, system):
    runbook_revise(actor=owner, system=system, body="1. Degrade")
    response = client_for(owner).post(
        "/systems/refund-classifier/runbook/reviewed/", {"reason": "Steps checked after INC-4"}
    )
    assert response.status_code == 302
    assert response["Location"] == "/systems/refund-classifier/#runbook"
    system.refresh_from_db()
    assert system.runbook_reviewed_at is not None
    entry = AuditEntry.objects.get(verb="system.runbook_review")
    assert (entry.actor, entry.reason) == (owner, "Steps checked after INC-4")
    assert entry.after["runbook_version"] == 1


def test_a_colleague_who_does_not_own_the_system_cannot_mark_its_runbook_reviewed(
    client_for, responder, owner, system
):
    runbook_revise(actor=owner, system=system, body="1. Degrade")
    response = client_for(responder).post("/systems/refund-classifier/runbook/reviewed/")
    assert response.status_code == 403
    system.refresh_from_db()
    assert system.runbook_reviewed_at is None
    assert not AuditEntry.objects.filter(verb="system.runbook_review").exists()


def test_there_is_nothing_to_mark_reviewed_before_the_runbook_is_written(client_for, owner, system):
    response = client_for(owner).post("/systems/refund-classifier/runbook/reviewed/", follow=True)
    assert "There is no runbook to review yet" in response.content.decode()
    assert not AuditEntry.objects.filter(verb="system.runbook_review").exists()


def test_marking_reviewed_takes_a_post(client_for, owner, system):
    runbook_revise(actor=owner, system=system, body="1. Degrade")
    assert client_for(owner).get("/systems/refund-classifier/runbook/reviewed/").status_code == 405
    system.refresh_from_db()
    assert system.runbook_reviewed_at is None


def test_the_runbook_card_offers_the_review_to_its_owner_only(client_for, owner, viewer, system):
    runbook_revise(actor=owner, system=system, body="1. Degrade")
    assert b"Mark reviewed" in client_for(owner).get("/systems/refund-classifier/").content
    assert b"Mark reviewed" not in client_for(viewer).get("/systems/refund-classifier/").content
