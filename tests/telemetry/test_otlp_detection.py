"""Scores arriving as OpenTelemetry spans feed a score-share monitor like the event API's
events do: a steady share of unfaithful answers is its baseline, a jump fires it and opens
an incident."""

import random
from datetime import UTC, datetime, timedelta

import pytest

from incidents.models import Incident
from monitoring.models import Alert, Monitor
from monitoring.services.evaluation import monitors_evaluate
from monitoring.services.monitors import monitor_create
from tests.telemetry.otlp_bodies import TRACES, chat, post_json, span_id, traces_body

pytestmark = pytest.mark.django_db

T0 = (datetime.now(UTC) - timedelta(minutes=20)).replace(second=0, microsecond=0)


def _send(client, token, rng, start: datetime, count: int, seconds: float, low: float) -> None:
    """`count` scored chat spans over `seconds` from `start`; a share `low` of them
    unfaithful (below 0.5)."""
    spans = [
        chat(
            span_id(),
            at=start + timedelta(seconds=seconds * n / count),
            score=round(
                rng.uniform(0.0, 0.45) if rng.random() < low else rng.uniform(0.55, 1.0), 3
            ),
        )
        for n in range(count)
    ]
    for at in range(0, count, 500):
        answer = post_json(client, TRACES, traces_body(*spans[at : at + 500]), token)
        assert answer.status_code == 200 and answer.json() == {}


def _watch(client, system, owner, token, rng, share_after: float) -> Monitor:
    monitor = monitor_create(
        actor=owner,
        system=system,
        name="Unfaithful answers",
        kind="score_share",
        target="faithfulness",
        threshold=0.5,
        below=True,
    )
    # Two hours of baseline, sent late (spans may carry past times): 5% unfaithful.
    _send(client, token, rng, T0 - timedelta(hours=2), 3000, 7200, 0.05)
    monitors_evaluate(now=T0)
    monitor.refresh_from_db()
    assert monitor.status == Monitor.Status.OK
    assert monitor.baseline["counts"]["x"] / monitor.baseline["n"] == pytest.approx(0.05, abs=0.015)

    # Then three minutes more, evaluated every 30 seconds as beat would.
    for step in range(6):
        at = T0 + timedelta(seconds=30 * step)
        _send(client, token, rng, at, 60, 30, share_after)
        monitors_evaluate(now=at + timedelta(seconds=33))
    monitor.refresh_from_db()
    return monitor


def test_a_jump_in_low_scores_fires_the_score_monitor_and_opens_an_incident(
    client, system, owner, token
):
    monitor = _watch(client, system, owner, token, random.Random(15), share_after=0.40)

    assert monitor.status == Monitor.Status.FIRING
    alert = Alert.objects.get(monitor=monitor)
    assert alert.evidence["current"] > 0.2
    assert alert.incident.source == Incident.Source.ALERT
    assert alert.incident.severity == "SEV3"
    assert list(alert.incident.systems.all()) == [system]


def test_the_score_monitor_stays_quiet_while_the_share_holds(client, system, owner, token):
    monitor = _watch(client, system, owner, token, random.Random(15), share_after=0.05)

    assert monitor.status == Monitor.Status.OK
    assert not Alert.objects.exists()
    assert not Incident.objects.exists()
