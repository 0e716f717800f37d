from celery import shared_task
from django.utils import timezone

from core.models import Heartbeat


@shared_task(name="core.tasks.heartbeat", ignore_result=True)
def heartbeat():
    """Beat queues this, a worker runs it: a fresh row proves both are alive (/healthz)."""
    Heartbeat.objects.update_or_create(name="celery", defaults={"beat_at": timezone.now()})
