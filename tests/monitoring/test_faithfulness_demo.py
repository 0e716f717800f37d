"""The demo's support drafter: seeded with a faithfulness monitor and the prompt edit that
makes its answers drift, its history gives the monitor a baseline at once, and within
minutes of the drift the monitor fires and joins the drafter's open incident, while its
other monitors stay quiet."""

from datetime import UTC, datetime, timedelta

import pytest
from django.core.management import call_command

from incidents.models import Incident, TimelineEntry
from monitoring.models import Alert, Monitor
from monitoring.services.evaluation import monitors_evaluate
from monitoring.services.ingest import events_ingest
from monitoring.simulator import SUPPORT, Simulator
from rollbacks.models import ActiveVersion
from systems.models import AISystem

pytestmark = pytest.mark.django_db

T0 = (datetime.now(UTC) - timedelta(minutes=15)).replace(second=0, microsecond=0)
STEADY = {"model": "1", "prompt": "1", "retrieval": "1", "config": "1"}


def _feed(system, simulator, start: datetime, seconds: float, rate: float) -> None:
    count, at = int(seconds * rate), start.timestamp()
    while count:
        n = min(count, 5000)
        events_ingest(system=system, payload={"events": simulator.events(at, n, rate)})
        at, count = at + n / rate, count - n


def test_the_drafters_faithfulness_monitor_fires_minutes_into_the_seeded_drift():
    call_command("seed_demo")
    drafter = AISystem.objects.get(slug="support-reply")
    monitor = Monitor.objects.get(system=drafter, name="Faithfulness below 0.5")
    assert (monitor.kind, monitor.target, monitor.threshold, monitor.below) == (
        Monitor.Kind.SCORE_SHARE,
        "faithfulness",
        0.5,
        True,
    )
    prompt = ActiveVersion.objects.get(system=drafter, surface="prompt").version
    assert (prompt.number, prompt.content["name"]) == (2, "support-reply")

    # The history the simulator backfills: steady, on the prompt before the edit.
    steady = Simulator(SUPPORT, seed=1, versions=STEADY)
    _feed(drafter, steady, T0 - timedelta(hours=2), 7200, 2)
    monitors_evaluate(now=T0)
    monitor.refresh_from_db()
    assert monitor.status == Monitor.Status.OK  # a baseline at once, no learning wait
    assert monitor.baseline["counts"]["x"] / monitor.baseline["n"] == pytest.approx(0.04, abs=0.01)

    # The edit rolls out from T0, at the demo's five replies a second.
    drift = Simulator(
        SUPPORT, seed=2, versions=STEADY, scenario="faithfulness-drift", shift_at=T0.timestamp()
    )
    fired_after = None
    for step in range(20):  # ten minutes, evaluated every 30 s as beat would
        at = T0 + timedelta(seconds=30 * step)
        _feed(drafter, drift, at, 30, 5)
        monitors_evaluate(now=at + timedelta(seconds=33))
        if Alert.objects.filter(monitor=monitor).exists():
            fired_after = 30 * (step + 1)
            break

    assert fired_after is not None and fired_after <= 8 * 60
    alert = Alert.objects.get(monitor=monitor)
    assert "Faithfulness below 0.5 rose to" in alert.summary
    # It joins the drafter's open SEV3 rather than opening another incident.
    assert alert.incident.title == "Reply length distribution shifted after prompt edit"
    assert alert.incident.timeline.filter(kind=TimelineEntry.Kind.ALERT).count() == 1
    assert Incident.objects.filter(source=Incident.Source.ALERT).count() == 0
    others = Alert.objects.filter(system=drafter).exclude(monitor=monitor)
    assert list(others.values_list("monitor__name", flat=True)) == []
