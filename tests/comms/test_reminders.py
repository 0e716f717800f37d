"""Status updates at the severity's cadence, and the reminders that chase them.

The clock is frozen by handing each call its `now`: due times are in the database, so the
sweep at a given moment decides the same way whichever worker runs it, and whenever.
"""

import threading
from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.utils import timezone

from comms.models import Reminder, Webhook, WebhookDelivery
from comms.services.status_updates import reminders_send_due, status_update_post
from comms.tasks import reminders_send_due as reminders_task
from incidents.models import TimelineEntry
from incidents.services.incident import (
    incident_declare,
    incident_people_change,
    incident_status_change,
)

T0 = timezone.now().replace(microsecond=0) - timedelta(hours=3)


def _reminders(incident, kind="reminder"):
    return list(incident.timeline.filter(kind=kind).values_list("text", flat=True))


@pytest.fixture
def sev1(system, lead):
    """A SEV1 declared at T0 with a lead: it owes an update every 30 minutes."""
    return incident_declare(
        actor=lead,
        title="Fraud flags tripled",
        systems=[system],
        harm="wrong",
        irreversible_actions=True,
        lead=lead,
        declared_at=T0,
    )


@pytest.mark.django_db
def test_a_sev1_owes_its_first_update_thirty_minutes_after_it_was_declared(sev1):
    assert sev1.next_update_due_at == T0 + timedelta(minutes=30)


@pytest.mark.django_db
def test_nothing_is_sent_before_the_update_is_due(sev1):
    assert reminders_send_due(now=T0 + timedelta(minutes=29)) == 0
    assert _reminders(sev1) == []


@pytest.mark.django_db
def test_an_overdue_update_is_reminded_once_in_the_room_not_on_every_tick(sev1):
    sent = [reminders_send_due(now=T0 + timedelta(minutes=m)) for m in (30, 31, 32, 45, 59)]
    assert sent == [1, 0, 0, 0, 0]
    (text,) = _reminders(sev1)
    assert "Status update overdue" in text


@pytest.mark.django_db
def test_still_overdue_a_cadence_later_it_is_reminded_again(sev1):
    reminders_send_due(now=T0 + timedelta(minutes=30))
    assert reminders_send_due(now=T0 + timedelta(minutes=60)) == 1
    assert len(_reminders(sev1)) == 2


@pytest.mark.django_db
def test_posting_an_update_moves_the_due_time_and_silences_the_reminder(sev1, lead):
    status_update_post(actor=lead, incident=sev1, known="Holds fire", doing="Kill switch")
    sev1.refresh_from_db()
    assert sev1.next_update_due_at > T0 + timedelta(minutes=30)
    assert reminders_send_due(now=T0 + timedelta(minutes=31)) == 0
    assert _reminders(sev1) == []
    assert _reminders(sev1, "status_update")


@pytest.mark.django_db
def test_a_resolved_incident_owes_no_update(sev1, lead):
    incident_status_change(actor=lead, incident=sev1, status="contained", at=T0)
    incident_status_change(actor=lead, incident=sev1, status="resolved", at=T0)
    assert reminders_send_due(now=T0 + timedelta(hours=2)) == 0
    assert _reminders(sev1) == []


@pytest.mark.django_db
def test_a_sev3_owes_no_update(system, responder):
    incident = incident_declare(
        actor=responder,
        title="Shift",
        systems=[system],
        harm="anomalous",
        irreversible_actions=False,
        lead=responder,
        declared_at=T0,
    )
    assert incident.next_update_due_at is None
    assert reminders_send_due(now=T0 + timedelta(hours=5)) == 0


@pytest.mark.django_db
def test_an_incident_with_no_lead_and_no_severity_is_chased(system, responder, settings):
    incident = incident_declare(
        actor=responder, title="Something is off", systems=[system], declared_at=T0
    )
    minutes = settings.FAILSAFE_TRIAGE_REMINDER_MINUTES
    assert reminders_send_due(now=T0 + timedelta(minutes=minutes - 1)) == 0
    assert reminders_send_due(now=T0 + timedelta(minutes=minutes)) == 1
    (text,) = _reminders(incident)
    assert "no lead and no severity" in text


@pytest.mark.django_db
def test_no_chase_when_someone_took_the_lead_and_classified_in_time(system, responder):
    incident = incident_declare(actor=responder, title="Shift", systems=[system], declared_at=T0)
    incident_people_change(actor=responder, incident=incident, lead=responder)
    from incidents.services.incident import incident_classify

    incident_classify(
        actor=responder, incident=incident, harm="anomalous", irreversible_actions=False
    )
    assert reminders_send_due(now=T0 + timedelta(hours=1)) == 0
    assert _reminders(incident) == []


@pytest.mark.django_db
def test_a_reminder_claimed_by_a_worker_that_died_is_sent_by_the_next(sev1):
    """The claim and the sending are one transaction: a crash in between undoes the claim."""
    due = T0 + timedelta(minutes=30)

    class WorkerDied(Exception):
        pass

    with pytest.raises(WorkerDied), transaction.atomic():
        assert reminders_send_due(now=due) == 1
        raise WorkerDied

    assert Reminder.objects.get(kind="update_overdue", due_at=due).done_at is None
    assert _reminders(sev1) == []
    # After the restart, the periodic task (the real Celery task code) finds it still due.
    reminders_task.delay()
    assert len(_reminders(sev1)) == 1


@pytest.mark.django_db
def test_an_overdue_update_also_goes_out_through_the_webhooks(sev1):
    hook = Webhook.objects.create(
        name="chat", url="http://127.0.0.1:9/", events=[Webhook.Event.UPDATE_OVERDUE]
    )
    reminders_send_due(now=T0 + timedelta(minutes=30))
    delivery = WebhookDelivery.objects.get(webhook=hook)
    assert delivery.event == "incident.update_overdue"
    assert "overdue" in delivery.payload["text"]


@pytest.mark.django_db(transaction=True)
def test_two_workers_sweeping_at_once_send_each_reminder_exactly_once(system, lead):
    incidents = [
        incident_declare(
            actor=lead,
            title=f"Incident {n}",
            systems=[system],
            harm="harmful",
            irreversible_actions=False,
            lead=lead,
            declared_at=T0,
        )
        for n in range(5)
    ]
    start = threading.Barrier(2)
    sent = []

    def worker():
        try:
            start.wait()
            sent.append(reminders_send_due(now=T0 + timedelta(minutes=30)))
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sum(sent) == 5
    for incident in incidents:
        assert TimelineEntry.objects.filter(incident=incident, kind="reminder").count() == 1
