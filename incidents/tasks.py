from celery import shared_task

from incidents import services


@shared_task(name="incidents.tasks.action_items_send_overdue", ignore_result=True)
def action_items_send_overdue():
    services.action_items_send_overdue()
