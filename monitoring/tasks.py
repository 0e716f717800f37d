from celery import shared_task

from monitoring.services import evaluation, retention


# Expires before the next run is queued: a backlog of evaluations is never worth running.
@shared_task(name="monitoring.tasks.monitors_evaluate", ignore_result=True, expires=10)
def monitors_evaluate():
    evaluation.monitors_evaluate()


@shared_task(name="monitoring.tasks.events_retention_apply", ignore_result=True, expires=600)
def events_retention_apply():
    retention.events_retention_apply()
