"""Monitors of what a generative-AI call adds, over real ingested events with fixed seeds: a
score share, an error share, a finish reason's share and token and score distributions fire
on their shift and stay quiet on a long stationary stream; a score share is a share of the
outputs that carry the score, counted while its monitor watches."""

import itertools
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from incidents.models import Incident
from monitoring.models import Alert, Monitor, Rollup
from monitoring.services.evaluation import monitors_evaluate
from monitoring.services.ingest import events_ingest
from monitoring.services.monitors import monitor_create, monitor_update
from tests.factories import AISystemFactory

pytestmark = pytest.mark.django_db

# Everything happens in the recent past: events may not come from the future.
T0 = (datetime.now(UTC) - timedelta(minutes=40)).replace(second=0, microsecond=0)
STEADY = {
    "low": 0.05,  # share of scored outputs with faithfulness below 0.5
    "scored": 1.0,  # share of outputs judged for faithfulness
    "errors": {"timeout": 0.02, "rate_limited": 0.01},
    "length": 0.03,  # share of outputs cut off at the token limit
    "tokens": 5.0,  # mean log of the output tokens (about 150)
    "faithfulness": None,  # (a, b): faithfulness drawn from a beta instead of `low`
}
IDS = itertools.count()


@pytest.fixture
def drafter(owner):
    return AISystemFactory(slug="support-reply", name="Support reply drafter", owner=owner)


def _calls(rng, start: float, n: int, rate: float, traffic: dict) -> list[dict]:
    """`n` generative-AI calls from `start` (epoch seconds) at `rate` a second."""
    faith = traffic["faithfulness"]
    if faith:
        values = rng.beta(*faith, n)
    else:
        low = rng.random(n) < traffic["low"]
        values = np.where(low, rng.uniform(0.0, 0.5, n), rng.uniform(0.5, 1.0, n))
    scored = rng.random(n) < traffic["scored"]
    kinds, shares = zip(*traffic["errors"].items(), strict=True)
    errors = rng.choice([*kinds, ""], n, p=[*shares, 1 - sum(shares)])
    cut = rng.random(n) < traffic["length"]
    tokens = np.exp(rng.normal(traffic["tokens"], 0.4, n)).astype(int)
    calls = []
    for i in range(n):
        call = {
            "id": f"call-{next(IDS)}",
            "ts": datetime.fromtimestamp(start + i / rate, UTC).isoformat(),
            "error": str(errors[i]),
            "finish_reason": "length" if cut[i] else "stop",
            "usage": {"input_tokens": 900, "output_tokens": int(tokens[i])},
            "provider": "openai",
        }
        if scored[i]:
            call["scores"] = {"faithfulness": round(float(values[i]), 4)}
        calls.append(call)
    return calls


def _feed(system, rng, start: datetime, seconds: float, rate: float, traffic: dict) -> None:
    count, at = int(seconds * rate), start.timestamp()
    while count:
        n = min(count, 5000)
        events_ingest(system=system, payload={"events": _calls(rng, at, n, rate, traffic)})
        at, count = at + n / rate, count - n


def _prime(system, seed=1, **changes):
    """Two hours of steady traffic before T0 (2 calls a second), then a first evaluation."""
    _feed(system, np.random.default_rng(seed), T0 - timedelta(hours=2), 7200, 2, STEADY | changes)
    monitors_evaluate(now=T0)


def _run(system, minutes: float, seed=2, rate=10, every=30, **changes) -> None:
    """`minutes` of traffic from T0, evaluated every `every` seconds as beat would."""
    rng = np.random.default_rng(seed)
    for step in range(int(minutes * 60 / every)):
        at = T0 + timedelta(seconds=step * every)
        _feed(system, rng, at, every, rate, STEADY | changes)
        monitors_evaluate(now=at + timedelta(seconds=every + 3))


def _unfaithful(system, owner, **fields):
    return monitor_create(
        actor=owner,
        system=system,
        name="Faithfulness below 0.5",
        kind="score_share",
        target="faithfulness",
        threshold=0.5,
        **fields,
    )


def test_a_score_share_fires_when_low_faithfulness_rises_from_5_to_20_percent(drafter, owner):
    monitor = _unfaithful(drafter, owner)
    _prime(drafter)
    monitor.refresh_from_db()
    assert monitor.status == Monitor.Status.OK
    assert monitor.baseline["counts"]["x"] / monitor.baseline["n"] == pytest.approx(0.05, abs=0.01)

    _run(drafter, minutes=4, low=0.20)

    alert = Alert.objects.get(monitor=monitor)
    assert abs((alert.onset_at - T0).total_seconds()) < 60
    assert alert.evidence["baseline"] == pytest.approx(0.05, abs=0.01)
    assert alert.evidence["current"] == pytest.approx(0.20, abs=0.05)
    assert alert.summary.startswith("Faithfulness below 0.5 rose to ")
    assert "% of scored outputs against a baseline of 5." in alert.summary
    assert alert.incident.source == Incident.Source.ALERT


def test_the_monitors_stay_quiet_on_a_long_stationary_stream(drafter, owner):
    """The same seeds as the tests that fire, without the shift: 40 minutes at 10 calls a
    second, evaluated every 30 s, and not one alert."""
    _unfaithful(drafter, owner)
    for name, kind, target in (
        ("Errors", "error_rate", ""),
        ("Timeouts", "error_rate", "timeout"),
        ("Cut off", "finish_reason", "length"),
        ("Output tokens", "numeric", "usage.output_tokens"),
        ("Faithfulness", "numeric", "scores.faithfulness"),
    ):
        monitor_create(
            actor=owner, system=drafter, name=name, kind=kind, target=target, window_minutes=5
        )
    _prime(drafter)
    _run(drafter, minutes=40)
    assert not Alert.objects.exists()
    statuses = dict(Monitor.objects.values_list("name", "status"))
    assert set(statuses.values()) == {"ok"}, statuses


def test_outputs_without_the_score_do_not_dilute_its_share(drafter, owner):
    monitor = _unfaithful(drafter, owner)
    _prime(drafter, scored=0.5)  # half the outputs are never judged for faithfulness
    monitor.refresh_from_db()
    assert monitor.baseline["n"] == pytest.approx(7200, rel=0.05)  # the judged ones
    assert monitor.baseline["counts"]["x"] / monitor.baseline["n"] == pytest.approx(0.05, abs=0.01)
    assert monitor.detector["p0"] == pytest.approx(0.05, abs=0.01)  # not 2.5%

    _run(drafter, minutes=4, scored=0.5, low=0.20)

    alert = Alert.objects.get(monitor=monitor)
    assert alert.evidence["baseline"] == pytest.approx(0.05, abs=0.01)
    assert alert.evidence["current"] > 0.10


def test_a_score_share_made_while_scores_flow_counts_only_what_it_saw(drafter, owner):
    """Hours of scored outputs before the monitor existed are not in its share: it has no
    hits for them, so counting them would put its baseline near 0 and page on steady
    traffic."""
    rng = np.random.default_rng(1)
    _feed(drafter, rng, T0 - timedelta(hours=4), 7200, 2, STEADY)
    monitor = _unfaithful(drafter, owner)
    _feed(drafter, rng, T0 - timedelta(hours=2), 7200, 2, STEADY)
    monitors_evaluate(now=T0)
    monitor.refresh_from_db()
    assert monitor.baseline["n"] == 14_400
    assert monitor.baseline["counts"]["x"] / monitor.baseline["n"] == pytest.approx(0.05, abs=0.01)

    _run(drafter, minutes=10)

    assert not Alert.objects.exists()


def test_changing_a_score_shares_threshold_counts_it_afresh(drafter, owner):
    monitor = _unfaithful(drafter, owner)
    _prime(drafter)
    monitor_update(actor=owner, monitor=monitor, threshold=0.3)
    monitor.refresh_from_db()
    assert (monitor.status, monitor.baseline) == (Monitor.Status.LEARNING, {})
    # What it counted below 0.5 would read as a share below 0.3: gone.
    assert not Rollup.objects.filter(signal__endswith=f":{monitor.pk}").exists()
    assert Rollup.objects.filter(signal="scores.faithfulness").exists()

    _feed(drafter, np.random.default_rng(3), T0 - timedelta(minutes=30), 600, 10, STEADY)
    monitors_evaluate(now=T0)
    monitor.refresh_from_db()
    # 6,000 judged outputs since; 3% of them fall below 0.3 (uniform on [0, 0.5) for 5%).
    assert monitor.baseline["n"] == 6000
    assert monitor.baseline["counts"]["x"] / 6000 == pytest.approx(0.03, abs=0.008)


@pytest.mark.parametrize(
    ("name", "kind", "target", "shift"),
    [
        ("Errors", "error_rate", "", {"errors": {"timeout": 0.08, "rate_limited": 0.04}}),
        ("Timeouts", "error_rate", "timeout", {"errors": {"timeout": 0.10, "rate_limited": 0.01}}),
        ("Replies cut off", "finish_reason", "length", {"length": 0.15}),
    ],
)
def test_an_error_share_and_a_finish_reason_share_fire_on_their_surge(
    drafter, owner, name, kind, target, shift
):
    monitor = monitor_create(actor=owner, system=drafter, name=name, kind=kind, target=target)
    _prime(drafter)
    _run(drafter, minutes=4, **shift)
    alert = Alert.objects.get(monitor=monitor)
    assert alert.evidence["direction"] == "up"
    assert " rose to " in alert.summary
    assert "% of outputs against a baseline of " in alert.summary


def test_the_rate_monitors_of_a_generative_ai_call_say_what_they_count(drafter, owner):
    errors = monitor_create(actor=owner, system=drafter, name="Failed calls", kind="error_rate")
    cut = monitor_create(
        actor=owner, system=drafter, name="Cut off", kind="finish_reason", target="length"
    )
    _prime(drafter)
    _run(drafter, minutes=4, errors={"timeout": 0.10, "rate_limited": 0.05}, length=0.15)
    assert Alert.objects.get(monitor=errors).summary.startswith("Failed calls (errors) rose to ")
    assert Alert.objects.get(monitor=cut).summary.startswith(
        "Cut off (finish reason length) rose to "
    )


@pytest.mark.parametrize(
    ("target", "shift"),
    [
        ("usage.output_tokens", {"tokens": 5.6}),  # replies about 80% longer
        ("scores.faithfulness", {"faithfulness": (4, 4)}),
    ],
)
def test_a_token_or_score_distribution_fires_on_a_shift_of_shape(drafter, owner, target, shift):
    monitor = monitor_create(
        actor=owner, system=drafter, name=target, kind="numeric", target=target, window_minutes=5
    )
    # A beta(8, 2) faithfulness against beta(4, 4): the mean falls from 0.8 to 0.5.
    steady = {"faithfulness": (8, 2)} if target.startswith("scores.") else {}
    _prime(drafter, **steady)
    _run(drafter, minutes=8, **shift)
    alert = Alert.objects.get(monitor=monitor)
    assert alert.evidence["kind"] == "shape"
    assert "changed shape" in alert.summary
