"""Deciding a request (gate.services.decide.gate_decide) against the real database."""

from datetime import timedelta

import pytest

from core.models import AuditEntry
from gate.errors import GateError
from gate.models import GateCounter, GateRule, Hold
from gate.services.breaker import baseline_refresh, breaker_reset
from gate.services.sweep import breakers_check, gate_sweep
from incidents.models import Incident, TimelineEntry
from monitoring.models import Alert, Monitor
from systems.models import RuntimeMode
from tests.factories import IncidentFactory
from tests.gate.conftest import NOW, history, set_rule

pytestmark = pytest.mark.django_db


def test_it_allows_and_counts_an_ordinary_request(ask, account_hold):
    decision, hold = ask()
    assert (decision.decision, hold) == ("allow", None)
    counter = GateCounter.objects.get(action_type=account_hold)
    assert (counter.requests, counter.allowed, counter.held) == (1, 1, 0)


def test_it_refuses_an_action_not_in_the_catalog(ask, account_hold):
    with pytest.raises(GateError) as refused:
        ask(action="delete_account")
    assert refused.value.field == "action"


@pytest.mark.parametrize("mode", ["degraded", "human", "off"])
def test_it_holds_everything_when_the_mode_is_not_ai(ask, system, account_hold, mode):
    RuntimeMode.objects.filter(system=system).update(mode=mode)
    decision, hold = ask(event_id="ev-1")
    assert decision.decision == "hold" and hold.cause == "mode"
    assert (hold.subject, hold.event_id, hold.status) == ("cus_00001", "ev-1", "pending")
    assert hold.expires_at == NOW + timedelta(minutes=60) and hold.expires_to == "reject"


@pytest.mark.parametrize("severity", ["SEV1", "SEV2"])
def test_it_holds_everything_while_an_sev1_or_sev2_of_the_system_is_open(
    ask, system, account_hold, severity
):
    incident = IncidentFactory(severity=severity, systems=[system])
    decision, hold = ask()
    assert decision.decision == "hold" and hold.cause == "incident"
    assert hold.incident == incident


def test_an_sev3_or_a_resolved_incident_does_not_hold(ask, system, account_hold):
    IncidentFactory(severity="SEV3", systems=[system])
    IncidentFactory(severity="SEV1", systems=[system], status=Incident.Status.RESOLVED)
    assert ask()[0].decision == "allow"


def test_another_systems_incident_does_not_hold(ask, account_hold, other_system):
    IncidentFactory(severity="SEV1", systems=[other_system])
    assert ask()[0].decision == "allow"


def test_the_cap_is_exact_then_holds(ask, account_hold):
    set_rule(account_hold, cap=3, breaker_factor=None)
    answers = [ask()[0].decision for _ in range(5)]
    assert answers == ["allow", "allow", "allow", "hold", "hold"]
    # A new window starts afresh.
    assert ask(at=NOW + timedelta(seconds=60))[0].decision == "allow"


def test_the_cap_can_deny_outright(ask, account_hold):
    set_rule(account_hold, cap=1, breaker_factor=None, over_cap="deny")
    assert ask()[0].decision == "allow"
    decision, hold = ask()
    assert (decision.decision, hold) == ("deny", None)
    assert GateCounter.objects.get(action_type=account_hold).denied == 1


def test_a_reversible_action_can_be_always_allowed(ask, system, tag):
    set_rule(tag, always_allow=True)
    RuntimeMode.objects.filter(system=system).update(mode="off")
    assert ask(action="claim_tag")[0].decision == "allow"


def test_the_baseline_comes_from_the_actions_rollups(ask, system, account_hold):
    history(system, "account_hold", per_minute=4, hours=6)
    ask()
    rule = GateRule.objects.get(action_type=account_hold)
    # Five hours of the six count (the last hour is left out): 4 a minute.
    assert rule.baseline == pytest.approx(4.0, rel=0.02)
    assert rule.limit == 20  # 5 × 4


def test_without_history_the_floor_is_the_limit(ask, account_hold):
    ask()
    rule = GateRule.objects.get(action_type=account_hold)
    assert (rule.baseline, rule.limit) == (None, 20)


def test_the_breaker_trips_raises_an_alert_on_the_incident_timeline_and_resets(
    ask, system, account_hold, django_capture_on_commit_callbacks
):
    history(system, "account_hold", per_minute=2, hours=6)
    set_rule(account_hold, breaker_factor=5, breaker_floor=5, baseline_at=None)
    with django_capture_on_commit_callbacks(execute=True):
        answers = [ask(subject=f"cus_{i}")[0] for i in range(12)]
    assert [a.decision for a in answers] == ["allow"] * 10 + ["hold"] * 2
    assert answers[10].cause == "breaker" and answers[10].trips
    rule = GateRule.objects.get(action_type=account_hold)
    assert rule.tripped_at == NOW and rule.alerted_at is not None

    # The alert: through monitoring's path, on a breaker monitor the evaluation skips.
    alert = Alert.objects.get(system=system)
    assert alert.monitor.name == "Gate breaker: account_hold"
    assert alert.monitor.kind == Monitor.Kind.ACTION_RATE and not alert.monitor.enabled
    assert alert.summary == (
        "Gate breaker: account_hold: 11 account_hold requests in 60 s against a baseline "
        "of 2.0 (limit 10); new ones are held"
    )
    incident = alert.incident
    assert incident.source == Incident.Source.ALERT
    assert TimelineEntry.objects.filter(
        incident=incident, kind="alert", text__contains="Gate breaker: account_hold"
    ).exists()
    assert AuditEntry.objects.filter(verb="gate.breaker_trip").count() == 1

    # Open: the next window holds too, even quiet, and stays open while demand is high.
    next_window = NOW + timedelta(seconds=60)
    assert ask(at=next_window)[0].cause == "breaker"
    for i in range(15):
        ask(at=next_window, subject=f"again_{i}")
    assert breakers_check(NOW + timedelta(seconds=125)) == 0

    # A whole window within the limit closes it and resolves the alert.
    quiet = NOW + timedelta(seconds=120)
    for i in range(3):
        ask(at=quiet, subject=f"quiet_{i}")
    assert breakers_check(NOW + timedelta(seconds=185)) == 1
    rule.refresh_from_db()
    assert rule.tripped_at is None and rule.alerted_at is None
    alert.refresh_from_db()
    assert alert.status == Alert.Status.RESOLVED
    assert AuditEntry.objects.filter(verb="gate.breaker_reset", actor=None).count() == 1
    assert ask(at=NOW + timedelta(seconds=190))[0].decision == "allow"


def test_the_sweep_raises_an_alert_the_trip_could_not_queue(ask, system, account_hold):
    set_rule(account_hold, breaker_floor=2)
    for i in range(3):
        ask(subject=f"cus_{i}")  # no on-commit callbacks run here: the task was never queued
    assert not Alert.objects.exists()
    assert gate_sweep(NOW + timedelta(seconds=1))["alerts"] == 1
    assert gate_sweep(NOW + timedelta(seconds=2))["alerts"] == 0
    assert Alert.objects.filter(system=system, status="open").count() == 1


def test_a_person_may_close_the_breaker_with_a_reason(ask, account_hold, responder):
    set_rule(account_hold, breaker_floor=1)
    ask(), ask()
    rule = GateRule.objects.get(action_type=account_hold)
    with pytest.raises(GateError):
        breaker_reset(actor=responder, rule=rule, reason=" ")
    assert breaker_reset(actor=responder, rule=rule, reason="Fixed the prompt.")
    entry = AuditEntry.objects.get(verb="gate.breaker_reset")
    assert (entry.actor, entry.reason) == (responder, "Fixed the prompt.")


def test_the_baseline_is_frozen_while_the_breaker_is_open(ask, system, account_hold):
    set_rule(account_hold, breaker_floor=1, baseline=0.1)
    ask(), ask()
    rule = GateRule.objects.get(action_type=account_hold)
    history(system, "account_hold", per_minute=30)
    assert rule.tripped_at is not None
    assert baseline_refresh(rule=rule, now=NOW) == 0.1


def test_each_hold_counts_in_the_window(ask, system, account_hold):
    RuntimeMode.objects.filter(system=system).update(mode="off")
    for i in range(3):
        ask(subject=f"cus_{i}")
    counter = GateCounter.objects.get(action_type=account_hold)
    assert (counter.requests, counter.allowed, counter.held) == (3, 0, 3)
    assert Hold.objects.filter(system=system).count() == 3
