from celery import shared_task

from monitoring import services


# Expires before the next run is queued: a backlog of evaluations is never worth running.
@shared_task(name="monitoring.tasks.monitors_evaluate", ignore_result=True, expires=10)
def monitors_evaluate():
    services.monitors_evaluate()


@shared_task(name="monitoring.tasks.reviews_sample", ignore_result=True, expires=60)
def reviews_sample():
    services.reviews_sample()
