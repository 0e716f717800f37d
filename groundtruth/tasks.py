from celery import shared_task

from groundtruth import services


@shared_task(name="groundtruth.tasks.reviews_sample", ignore_result=True, expires=60)
def reviews_sample():
    services.reviews_sample()
