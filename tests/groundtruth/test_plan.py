"""The sampling plan on a system's monitors page: ground truth's panel there, saved by the
owner or a responder, refused with the field named, hidden from those who cannot change it."""

import pytest

from core.models import AuditEntry
from groundtruth.models import ReviewPlan

pytestmark = pytest.mark.django_db

MONITORS = "/systems/refund-classifier/monitors/"
PLAN = "/systems/refund-classifier/review-plan/"
FORM = {
    "active": "on",
    "per_day": 25,
    "oversample": '{"fraud": 10}',
    "double_share": 0.1,
    "baseline_days": 14,
}


def test_the_monitors_page_shows_the_plan_to_those_who_may_change_it(client_for, system, viewer):
    mine = client_for(system.owner).get(MONITORS).content.decode()
    assert 'id="plan-title"' in mine
    assert f'action="{PLAN}"' in mine
    assert 'id="plan-title"' not in client_for(viewer).get(MONITORS).content.decode()


def test_the_owner_saves_the_plan_and_it_is_audited(client_for, system):
    response = client_for(system.owner).post(PLAN, FORM)
    assert response.status_code == 302
    assert response["Location"] == MONITORS
    plan = ReviewPlan.objects.get(system=system)
    assert (plan.per_day, plan.oversample, plan.double_share) == (25, {"fraud": 10}, 0.1)
    assert AuditEntry.objects.get(verb="review_plan.set").after["per_day"] == 25


def test_a_refused_plan_is_shown_again_on_the_monitors_page_with_the_field_named(
    client_for, system
):
    response = client_for(system.owner).post(PLAN, FORM | {"oversample": '{"fraud": 0.5}'})
    assert response.status_code == 400
    body = response.content.decode()
    assert 'id="plan-title"' in body
    assert "Labels and factors of at least 1" in body
    assert not ReviewPlan.objects.exists()


def test_a_viewer_may_not_change_the_plan(client_for, system, viewer):
    assert client_for(viewer).post(PLAN, FORM).status_code == 403
    assert not ReviewPlan.objects.exists()
