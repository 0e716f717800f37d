from celery import shared_task

from incidents.services import postmortems


@shared_task(name="incidents.tasks.action_items_send_overdue", ignore_result=True)
def action_items_send_overdue():
    postmortems.action_items_send_overdue()
