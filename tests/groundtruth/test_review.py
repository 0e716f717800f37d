"""Ground truth: outputs sampled as planned, judged by people (blind when doubled), turned
into an accuracy that oversampling does not bias, and an accuracy drop that alerts."""

import json
import random
from datetime import UTC, datetime, timedelta

import pytest

from core.models import AuditEntry
from core.roles import Role
from groundtruth.models import ReviewItem, Verdict
from groundtruth.selectors import (
    accuracy_estimate,
    incident_reviews,
    queue_health,
    review_agreement,
)
from groundtruth.services import ReviewError, review_plan_set, reviews_sample, verdict_record
from incidents.models import Incident
from monitoring import simulator
from monitoring.models import Alert, Event
from monitoring.services.evaluation import monitors_evaluate
from monitoring.services.ingest import events_ingest
from monitoring.services.monitors import monitor_create
from tests.factories import IncidentFactory, UserFactory

pytestmark = pytest.mark.django_db

NOW = datetime.now(UTC).replace(microsecond=0)


def _feed(system, seconds: float, rate: float, *, seed=1, end=None, scenario="none"):
    sim = simulator.Simulator(
        simulator.REFUND, seed=seed, versions={"model": "1"}, scenario=scenario, shift_at=0
    )
    end = end or NOW - timedelta(seconds=30)
    count, at = int(seconds * rate), end.timestamp() - seconds
    while count:
        n = min(count, 5000)
        events = sim.events(at, n, rate)
        events_ingest(system=system, payload={"events": events}, now=NOW - timedelta(minutes=1))
        at, count = at + n / rate, count - n


@pytest.fixture
def day(system, owner):
    """A day of refund traffic (2% fraud), and a plan: 400 reviews a day, fraud ×10."""
    review_plan_set(actor=owner, system=system, per_day=400, oversample={"fraud": 10})
    _feed(system, 86400, 0.25)
    return system


def test_sampling_takes_the_planned_number_with_rare_labels_oversampled(day):
    reviews_sample(now=NOW, rng=random.Random(7))
    items = ReviewItem.objects.filter(system=day)
    fraud = items.filter(stratum="fraud")
    events = Event.objects.filter(system=day)
    n_fraud, n_other = events.filter(label="fraud").count(), events.exclude(label="fraud").count()
    # per day 400 = base × (others + 10 × fraud) over the one day of traffic
    base = 400 / (n_other + 10 * n_fraud)
    expected = base * n_other + min(1, 10 * base) * n_fraud
    spread = expected**0.5
    assert abs(items.count() - expected) < 4 * spread
    assert abs(fraud.count() - 10 * base * n_fraud) < 4 * (10 * base * n_fraud) ** 0.5
    # Every fraud flag carries the same probability: the base rate × 10 (the traffic's span
    # is read from the rollups, so it is a day give or take a bucket).
    probabilities = set(fraud.values_list("probability", flat=True))
    assert len(probabilities) == 1
    assert probabilities.pop() == pytest.approx(10 * base, rel=1e-3)
    doubled = items.filter(reviews_needed=2).count()
    assert abs(doubled - 0.05 * items.count()) < 4 * (0.05 * items.count()) ** 0.5


def test_no_output_is_sampled_twice(day):
    for seed in range(3):  # a run takes at most 20,000 new events: the day needs two
        reviews_sample(now=NOW, rng=random.Random(seed))
    first = ReviewItem.objects.count()
    reviews_sample(now=NOW, rng=random.Random(9))
    assert ReviewItem.objects.count() == first
    _feed(day, 600, 1, seed=9, end=NOW - timedelta(seconds=20))
    reviews_sample(now=NOW, rng=random.Random(3))
    ids = list(ReviewItem.objects.values_list("event_id", flat=True))
    assert len(ids) == len(set(ids))
    assert ReviewItem.objects.count() > first


def test_an_open_incident_gets_an_extra_sample_of_its_window(system, owner):
    review_plan_set(actor=owner, system=system, per_day=10)
    _feed(system, 3600, 1)
    incident = IncidentFactory(systems=[system], onset_at=NOW - timedelta(minutes=30))
    reviews_sample(now=NOW, rng=random.Random(4))
    tagged = ReviewItem.objects.filter(incident=incident)
    assert 30 <= tagged.count() <= 40
    window = NOW - timedelta(minutes=30)
    assert all(ts >= window for ts in tagged.values_list("event__ts", flat=True))


def _item(system, n, probability=0.1, label="approve", needs=1):
    event = Event.objects.create(
        system=system, client_id=f"x-{n}", ts=NOW - timedelta(hours=1), label=label
    )
    return ReviewItem.objects.create(
        system=system, event=event, probability=probability, stratum=label, reviews_needed=needs
    )


def test_accuracy_is_reweighted_for_how_each_output_was_sampled(system, reviewer):
    # 4 fraud flags sampled with p=0.5 (2 wrong), 6 others with p=0.05 (1 wrong)
    for n in range(4):
        verdict_record(actor=reviewer, item=_item(system, n, 0.5, "fraud"), correct=n >= 2)
    for n in range(6):
        verdict_record(actor=reviewer, item=_item(system, 10 + n, 0.05), correct=n != 0)
    estimate = accuracy_estimate(system, NOW - timedelta(days=1), NOW)
    # weights 2 and 20: (2×2 + 5×20) / (4×2 + 6×20) = 104 / 128
    assert estimate.correct == pytest.approx(104 / 128)
    assert estimate.reviewed == 10
    assert estimate.wrong == 3
    assert estimate.low < 104 / 128 < estimate.high


def test_double_review_is_blind_disagreement_is_disputed_and_a_third_look_settles_it(
    system, reviewer, responder, lead, client_for
):
    item = _item(system, 1, needs=2)
    verdict_record(actor=reviewer, item=item, correct=True)
    item.refresh_from_db()
    assert item.status == "open"
    # The second reviewer still sees it, without the first verdict.
    page = client_for(responder).get("/review/")
    assert b"x-1" in page.content
    assert b"rui" not in page.content
    with pytest.raises(ReviewError):
        verdict_record(actor=reviewer, item=item, correct=False)
    verdict_record(actor=responder, item=item, correct=False, note="refund was legitimate")
    item.refresh_from_db()
    assert item.status == "disputed"
    verdict_record(actor=lead, item=item, correct=False)
    item.refresh_from_db()
    assert (item.status, item.correct) == ("done", False)
    assert AuditEntry.objects.filter(verb="review.verdict").count() == 3


def test_agreement_is_cohens_kappa_over_double_reviewed_items(system):
    first, second = (
        UserFactory(username="a", role=Role.REVIEWER),
        UserFactory(username="b", role=Role.REVIEWER),
    )
    # The classic table: both correct 20, both incorrect 15, split 5 and 10 → κ = 0.4
    table = [(True, True)] * 20 + [(True, False)] * 5 + [(False, True)] * 10 + [(False, False)] * 15
    for n, (a, b) in enumerate(table):
        item = _item(system, n, needs=2)
        Verdict.objects.create(item=item, reviewer=first, correct=a)
        Verdict.objects.create(item=item, reviewer=second, correct=b)
    agreement = review_agreement(system)
    assert agreement["kappa"] == pytest.approx(0.4)
    assert (agreement["pairs"], agreement["disagreements"]) == (50, 15)


def test_an_accuracy_drop_raises_an_alert_and_opens_an_incident(system, owner, reviewer):
    review_plan_set(actor=owner, system=system, per_day=40, baseline_days=28)
    monitor_create(actor=owner, system=system, name="Reviewed accuracy", kind="accuracy")
    rng = random.Random(5)
    for n in range(300):  # the baseline: 96% over the previous days
        item = _item(system, n, 0.1)
        item.event.ts = NOW - timedelta(days=2 + n % 20)
        item.event.save()
        verdict_record(actor=reviewer, item=item, correct=rng.random() < 0.96)
    for n in range(40):  # today: 12 of 40 wrong
        verdict_record(actor=reviewer, item=_item(system, 1000 + n, 0.1), correct=n >= 12)
    monitors_evaluate(now=NOW)
    alert = Alert.objects.get()
    assert "Reviewed accuracy fell to 70.0% over 40 reviewed outputs" in alert.summary
    assert alert.incident.source == Incident.Source.ALERT
    found = incident_reviews(alert.incident, now=NOW)
    assert found[0]["estimate"].wrong == 12
    assert found[0]["estimate"].reviewed == 40
    assert found[0]["wrong_share"] == pytest.approx(0.3)


def test_queue_health_counts_backlog_oldest_and_reviewed_today(system, owner, reviewer):
    review_plan_set(actor=owner, system=system, per_day=25)
    items = [_item(system, n) for n in range(5)]
    ReviewItem.objects.filter(pk=items[0].pk).update(sampled_at=NOW - timedelta(hours=3))
    verdict_record(actor=reviewer, item=items[1], correct=True)
    health = queue_health([system], now=NOW + timedelta(seconds=1))
    assert health["backlog"] == 4
    assert health["reviewed_today"] == 1
    assert health["target"] == 25
    assert timedelta(hours=3) <= health["oldest_age"] < timedelta(hours=3, minutes=1)


@pytest.mark.parametrize(
    ("who", "status"), [("reviewer", 200), ("responder", 200), ("viewer", 403), ("outsider", 403)]
)
def test_the_queue_is_for_reviewers_and_above(client_for, system, request, who, status):
    _item(system, 1)
    client = client_for(request.getfixturevalue(who))
    assert client.get("/review/").status_code == status
    item = ReviewItem.objects.get()
    assert client.post(f"/review/{item.pk}/verdict/", {"verdict": "correct"}).status_code in (
        (302,) if status == 200 else (403,)
    )
    assert Verdict.objects.filter(item=item).exists() == (status == 200)
    assert client.get("/api/v1/review-items").status_code == status


HOSTILE = '<script>alert("x")</script>"><img src=x onerror=alert(1)>'


def test_hostile_model_output_is_escaped_and_long_text_folded_on_the_queue(
    client_for, system, reviewer
):
    event = Event.objects.create(
        system=system,
        client_id="hostile",
        ts=NOW,
        label=HOSTILE[:100],
        text=HOSTILE + " " + "word " * 2000,
        input={"note": HOSTILE},
        actions=[{"type": HOSTILE[:60], "subject": HOSTILE}],
    )
    ReviewItem.objects.create(system=system, event=event, probability=1)
    page = client_for(reviewer).get("/review/")
    assert page.status_code == 200
    body = page.content.decode()
    assert "<script>alert" not in body
    assert "<img src=x" not in body
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in body
    assert '<details class="folded">' in body


def test_verdicts_through_the_api_and_the_exports(client_for, system, reviewer, viewer):
    item = _item(system, 1, label="fraud")
    client = client_for(reviewer)
    given = client.post(
        f"/api/v1/review-items/{item.pk}/verdicts",
        {"correct": False, "expected": "approve", "note": "a regular customer"},
        content_type="application/json",
    )
    assert given.status_code == 201
    assert given.json()["status"] == "done"
    item.refresh_from_db()
    assert item.status == "done"
    again = client.post(
        f"/api/v1/review-items/{item.pk}/verdicts",
        {"correct": True},
        content_type="application/json",
    )
    assert again.status_code == 400
    assert again.json()["errors"][0]["field"] == "item"
    assert Verdict.objects.filter(item=item).count() == 1
    listed = client.get("/api/v1/review-items?status=done").json()
    assert listed[0]["verdicts"][0]["expected"] == "approve"
    assert client.get("/api/v1/review-items?status=nope").status_code == 400
    jsonl = client.get("/review/export.jsonl")
    rows = [json.loads(line) for line in b"".join(jsonl.streaming_content).decode().splitlines()]
    assert rows[0]["correct"] is False
    assert rows[0]["expected"] == "approve"
    csv_text = b"".join(client.get("/review/export.csv").streaming_content).decode()
    assert csv_text.splitlines()[0].startswith("item,system,event")
    assert "a regular customer" in csv_text
    assert client.get("/review/export.xml").status_code == 404
