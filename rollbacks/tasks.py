from celery import shared_task

from rollbacks import services


@shared_task(name="rollbacks.tasks.deployments_send_due", ignore_result=True)
def deployments_send_due():
    services.deployments_send_due()
