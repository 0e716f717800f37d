from celery import shared_task

from comms import services, webhooks


@shared_task(name="comms.tasks.reminders_send_due", ignore_result=True)
def reminders_send_due():
    services.reminders_send_due()


@shared_task(name="comms.tasks.webhook_deliver", ignore_result=True)
def webhook_deliver(delivery_id: int):
    webhooks.webhook_attempt(delivery_id)


@shared_task(name="comms.tasks.webhooks_send_due", ignore_result=True)
def webhooks_send_due():
    webhooks.webhooks_send_due()
