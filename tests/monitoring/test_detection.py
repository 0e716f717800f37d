"""Monitors over real ingested events: each fires on its scenario, stays quiet without one,
opens or joins an incident with its evidence, and resolves when the signal returns."""

import dataclasses
from datetime import UTC, datetime, timedelta

import pytest

from incidents.models import Incident, TimelineEntry
from monitoring import simulator
from monitoring.models import Alert, Monitor
from monitoring.selectors.incident import rollback_verdicts
from monitoring.selectors.signals import version_split
from monitoring.services.evaluation import (
    _evaluate,
    _false_alarms_per_event,
    _new_buckets,
    evaluations_save,
    monitors_evaluate,
)
from monitoring.services.ingest import events_ingest
from monitoring.services.monitors import monitor_create
from rollbacks.models import Deployment, Version
from tests.factories import ActionTypeFactory, AISystemFactory, IncidentFactory

pytestmark = pytest.mark.django_db

# Everything happens in the recent past: events may not come from the future.
T0 = (datetime.now(UTC) - timedelta(minutes=20)).replace(second=0, microsecond=0)
VERSIONS = {"model": "3", "prompt": "1", "retrieval": "1", "config": "1"}


@pytest.fixture
def refunds(owner):
    system = AISystemFactory(slug="refunds", name="Refunds", owner=owner)
    ActionTypeFactory(system=system, name="account_hold", reversible=False, user_visible=True)
    ActionTypeFactory(system=system, name="refund_issue", reversible=False, user_visible=True)
    _register(system, model=(3, 4), prompt=(1,), retrieval=(1,), config=(1,))
    return system


@pytest.fixture
def replies(owner):
    system = AISystemFactory(slug="replies", name="Replies", owner=owner)
    _register(system, model=(3,), prompt=(1, 2), retrieval=(1, 2), config=(1,))
    return system


def _register(system, **numbers):
    for surface, wanted in numbers.items():
        for number in wanted:
            Version.objects.create(
                system=system,
                surface=surface,
                number=number,
                content={"version_id": f"m-{number}"} if surface == "model" else {"n": number},
                created_by_label="test",
            )


def _feed(system, sim, start: datetime, seconds: float, rate: float) -> None:
    count, at = int(seconds * rate), start.timestamp()
    while count:
        n = min(count, 5000)
        events_ingest(system=system, payload={"events": sim.events(at, n, rate)})
        at, count = at + n / rate, count - n


def _sim(kind, scenario="none", seed=1, **changes):
    sim = simulator.Simulator(kind, seed=seed, versions=VERSIONS, scenario=scenario, shift_at=0)
    if changes:
        sim.scenario = dataclasses.replace(sim.scenario, **changes)
    return sim


def _watch(system, owner, **fields):
    monitor = monitor_create(actor=owner, system=system, **fields)
    return monitor


def _prime(system, sim, monitor=None):
    """Two hours of steady baseline before T0, then a first evaluation at T0."""
    _feed(system, sim, T0 - timedelta(hours=2), 7200, 2)
    monitors_evaluate(now=T0)


def _run(system, sim, minutes: float, rate: float = 10, evaluate_every: int = 30):
    """Feed `minutes` after T0 and evaluate along the way, as beat would."""
    start = T0
    for step in range(int(minutes * 60 / evaluate_every)):
        at = start + timedelta(seconds=step * evaluate_every)
        _feed(system, sim, at, evaluate_every, rate)
        monitors_evaluate(now=at + timedelta(seconds=evaluate_every + 3))


def test_a_fraud_share_shift_opens_a_sev3_incident_with_its_evidence(refunds, owner):
    monitor = _watch(refunds, owner, name="Fraud share", kind="category_share", target="fraud")
    _prime(refunds, _sim(simulator.REFUND))
    monitor.refresh_from_db()
    assert monitor.status == Monitor.Status.OK
    assert monitor.baseline["counts"]["x"] / monitor.baseline["n"] == pytest.approx(0.02, abs=0.006)

    _run(refunds, _sim(simulator.REFUND, "fraud-spike", seed=2), minutes=3)

    alert = Alert.objects.get(monitor=monitor)
    incident = alert.incident
    assert incident.source == Incident.Source.ALERT
    assert incident.severity == "SEV3"
    assert incident.irreversible_actions is True  # account holds fired since the onset
    assert abs((alert.onset_at - T0).total_seconds()) < 60
    assert incident.onset_at == alert.onset_at
    assert alert.evidence["baseline"] == pytest.approx(0.02, abs=0.006)
    assert alert.evidence["current"] > 0.05
    assert alert.evidence["false_alarms_per_event"] > 0
    assert "Fraud share rose to" in alert.summary
    assert incident.timeline.filter(kind=TimelineEntry.Kind.ALERT).count() == 1
    # The shift is confined to the model version that served it.
    split = {
        row["version"]: row["value"]
        for row in version_split(monitor, T0 - timedelta(minutes=30), T0 + timedelta(minutes=3))
        if row["surface"] == "model"
    }
    assert split["3"] == pytest.approx(0.02, abs=0.01)
    assert split["4"] > 0.06


def test_the_monitors_stay_quiet_on_unshifted_traffic(refunds, replies, owner):
    for system, fields in (
        (refunds, {"kind": "category_share", "target": "fraud"}),
        (refunds, {"kind": "action_rate", "target": "account_hold"}),
        (refunds, {"kind": "numeric", "target": "score"}),
        (refunds, {"kind": "input_feature", "target": "country"}),
        (replies, {"kind": "refusal_rate"}),
        (replies, {"kind": "numeric", "target": "length"}),
        (replies, {"kind": "pattern", "target": r"(?i)\bcan't help\b"}),
    ):
        _watch(system, owner, name=f"{fields['kind']} {fields.get('target', '')}", **fields)
    for system, kind in ((refunds, simulator.REFUND), (replies, simulator.SUPPORT)):
        _prime(system, _sim(kind))
    for system, kind in ((refunds, simulator.REFUND), (replies, simulator.SUPPORT)):
        _run(system, _sim(kind, seed=5), minutes=8)
    assert not Alert.objects.exists()
    assert not Incident.objects.exists()
    statuses = dict(Monitor.objects.values_list("name", "status"))
    assert set(statuses.values()) == {"ok"}, sorted(statuses.items())


@pytest.mark.parametrize(
    ("kind", "scenario", "fields", "changes"),
    [
        (simulator.SUPPORT, "refusal-surge", {"kind": "refusal_rate"}, {"refusal_factor": 4.0}),
        (simulator.SUPPORT, "short-answers", {"kind": "numeric", "target": "length"}, {}),
        (
            simulator.SUPPORT,
            "refusal-surge",
            {"kind": "pattern", "target": r"(?i)can't help"},
            {"refusal_factor": 4.0},
        ),
        (simulator.REFUND, "fraud-spike", {"kind": "action_rate", "target": "account_hold"}, {}),
        (simulator.REFUND, "fraud-vanishes", {"kind": "category_share", "target": "fraud"}, {}),
        (
            simulator.REFUND,
            "input-drift",
            {"kind": "input_feature", "target": "country"},
            {"ramp": 0.0},
        ),
        (
            simulator.REFUND,
            "input-drift",
            {"kind": "input_feature", "target": "amount", "numeric": True},
            {"ramp": 0.0},
        ),
    ],
)
def test_each_kind_of_monitor_fires_on_its_scenario(
    refunds, replies, owner, kind, scenario, fields, changes
):
    system = refunds if kind == simulator.REFUND else replies
    monitor = _watch(system, owner, name="watched", window_minutes=5, **fields)
    _prime(system, _sim(kind))
    _run(system, _sim(kind, scenario, seed=3, **changes), minutes=12)
    alert = Alert.objects.get(monitor=monitor)
    assert alert.incident is not None
    monitor.refresh_from_db()
    assert monitor.status == Monitor.Status.FIRING


def test_an_alert_joins_the_systems_open_incident_instead_of_opening_another(refunds, owner):
    open_one = IncidentFactory(systems=[refunds])
    monitor = _watch(refunds, owner, name="Fraud share", kind="category_share", target="fraud")
    _prime(refunds, _sim(simulator.REFUND))
    _run(refunds, _sim(simulator.REFUND, "fraud-spike", seed=2), minutes=3)
    assert Alert.objects.get(monitor=monitor).incident == open_one
    assert Incident.objects.count() == 1
    assert open_one.timeline.filter(kind=TimelineEntry.Kind.ALERT).exists()


def test_an_alert_resolves_when_the_signal_returns_and_confirms_the_rollback(refunds, owner):
    monitor = _watch(refunds, owner, name="Fraud share", kind="category_share", target="fraud")
    _prime(refunds, _sim(simulator.REFUND))
    _run(refunds, _sim(simulator.REFUND, "fraud-spike", seed=2), minutes=3)
    alert = Alert.objects.get(monitor=monitor)
    incident = alert.incident
    back = T0 + timedelta(minutes=3)
    Deployment.objects.create(
        system=refunds,
        surface="model",
        from_version=Version.objects.get(system=refunds, surface="model", number=4),
        to_version=Version.objects.get(system=refunds, surface="model", number=3),
        kind=Deployment.Kind.ROLLBACK,
        actor_label="rosa",
        reason="Over-flags fraud",
        at=back,
    )
    assert rollback_verdicts(incident, now=back + timedelta(minutes=1))[0]["state"] == "verifying"
    steady = _sim(simulator.REFUND, seed=9)
    for step in range(16):  # eight minutes of normal traffic after the rollback
        at = back + timedelta(seconds=30 * step)
        _feed(refunds, steady, at, 30, 10)
        monitors_evaluate(now=at + timedelta(seconds=33))
    alert.refresh_from_db()
    assert alert.status == Alert.Status.RESOLVED
    assert back < alert.resolved_at <= back + timedelta(minutes=8, seconds=33)
    monitor.refresh_from_db()
    assert monitor.status == Monitor.Status.OK
    verdict = rollback_verdicts(incident, now=back + timedelta(minutes=9))[0]
    assert verdict["state"] == "confirmed"
    assert verdict["at"] == alert.resolved_at
    assert "back within its baseline band" in incident.timeline.last().text


def test_a_rollback_that_does_not_bring_the_signal_back_is_not_confirmed(refunds, owner):
    _watch(refunds, owner, name="Fraud share", kind="category_share", target="fraud")
    _prime(refunds, _sim(simulator.REFUND))
    _run(refunds, _sim(simulator.REFUND, "fraud-spike", seed=2), minutes=3)
    incident = Alert.objects.get().incident
    Deployment.objects.create(
        system=refunds,
        surface="prompt",
        to_version=Version.objects.get(system=refunds, surface="prompt", number=1),
        kind=Deployment.Kind.ROLLBACK,
        actor_label="rosa",
        reason="Try the prompt",
        at=T0 + timedelta(minutes=3),
    )
    later = T0 + timedelta(minutes=34)
    assert rollback_verdicts(incident, now=later)[0]["state"] == "not_confirmed"


def test_two_evaluations_at_once_raise_one_alert(refunds, owner):
    monitor = _watch(refunds, owner, name="Fraud share", kind="category_share", target="fraud")
    _prime(refunds, _sim(simulator.REFUND))
    _feed(refunds, _sim(simulator.REFUND, "fraud-spike", seed=2), T0, 180, 10)
    stale = Monitor.objects.get(pk=monitor.pk)
    first = monitors_evaluate(now=T0 + timedelta(minutes=3, seconds=3))
    # A second run that read the monitor before the first one claimed its buckets.
    through = stale.evaluated_through + timedelta(minutes=3)
    rows, now = _new_buckets([stale], through), T0 + timedelta(minutes=3, seconds=3)
    judged = _evaluate(stale, rows, {}, through, now, _false_alarms_per_event([stale]))
    [outcome] = evaluations_save([judged], through, now)
    assert first["alerts"] == 1
    assert outcome == "lost"
    assert Alert.objects.count() == 1
    assert Incident.objects.count() == 1


def test_a_monitor_leaving_its_learning_period_does_not_page_on_steady_traffic(refunds, owner):
    """The run that first gives a monitor its baseline must calibrate for the system's real
    traffic, not for the empty baseline it had a moment before."""
    monitor = _watch(refunds, owner, name="Fraud share", kind="category_share", target="fraud")
    sim = _sim(simulator.REFUND)
    start = T0 - timedelta(minutes=14)
    _feed(refunds, sim, start - timedelta(minutes=5), 400, 2)  # 800 events, ~16 fraud flags
    monitors_evaluate(now=start + timedelta(seconds=103))
    monitor.refresh_from_db()
    assert monitor.status == Monitor.Status.LEARNING  # enough events, too few flags
    for minute in range(1, 13):  # steady traffic; the baseline arrives along the way
        at = start + timedelta(seconds=100 + 60 * (minute - 1))
        _feed(refunds, sim, at, 60, 10)
        monitors_evaluate(now=at + timedelta(seconds=63))
        monitor.refresh_from_db()
    monitor.refresh_from_db()
    assert monitor.status == Monitor.Status.OK
    assert not Alert.objects.exists()
