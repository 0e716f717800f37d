from celery import shared_task
from django.conf import settings

from monitoring.services import compaction, evaluation, retention


# Expires before the next run is queued: a backlog of evaluations is never worth running.
@shared_task(name="monitoring.tasks.monitors_evaluate", ignore_result=True, expires=10)
def monitors_evaluate(shard: int = 0, shards: int | None = None):
    evaluation.monitors_evaluate(shard=shard, shards=shards or settings.FAILSAFE_EVALUATION_SHARDS)


@shared_task(name="monitoring.tasks.rollups_compact", ignore_result=True)
def rollups_compact():
    compaction.rollups_compact()


@shared_task(name="monitoring.tasks.events_retention_apply", ignore_result=True, expires=600)
def events_retention_apply():
    retention.events_retention_apply()
