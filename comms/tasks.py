"""The sweeps beat runs (config/celery.py). A delivery's first attempt is the task
`comms.webhook_delivery.webhook_deliver`, kept beside the attempt so that the emit which
queues it does not import this module (the reminder sweep here emits webhooks)."""

from celery import shared_task

from comms import webhook_delivery
from comms.services import status_updates


@shared_task(name="comms.tasks.reminders_send_due", ignore_result=True)
def reminders_send_due():
    status_updates.reminders_send_due()


@shared_task(name="comms.tasks.webhooks_send_due", ignore_result=True)
def webhooks_send_due():
    webhook_delivery.webhooks_send_due()
