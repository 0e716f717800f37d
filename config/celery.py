import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("failsafe")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@app.on_after_finalize.connect
def schedule_periodic_tasks(sender, **kwargs):
    from django.conf import settings

    sender.add_periodic_task(
        settings.CELERY_HEARTBEAT_SECONDS,
        sender.signature("core.tasks.heartbeat"),
        name="celery heartbeat for /healthz",
    )
    # Detection: every monitor over the rollup buckets completed since its last run, one
    # task per shard of the systems, so each worker added takes a shard's task.
    shards = settings.FAILSAFE_EVALUATION_SHARDS
    for shard in range(shards):
        sender.add_periodic_task(
            settings.FAILSAFE_EVALUATE_SECONDS,
            sender.signature(
                "monitoring.tasks.monitors_evaluate", kwargs={"shard": shard, "shards": shards}
            ),
            name=f"monitoring.tasks.monitors_evaluate shard {shard} of {shards}",
        )
    # Old rollup cells compacted (a day: 1-minute cells; a week: 1-hour cells).
    sender.add_periodic_task(
        settings.FAILSAFE_ROLLUP_COMPACT_SECONDS,
        sender.signature("monitoring.tasks.rollups_compact"),
        name="monitoring.tasks.rollups_compact",
    )
    # Ground truth: new outputs sampled for review.
    sender.add_periodic_task(
        settings.FAILSAFE_REVIEW_SAMPLE_SECONDS,
        sender.signature("groundtruth.tasks.reviews_sample"),
        name="groundtruth.tasks.reviews_sample",
    )
    # Raw events: day tables made ahead, those past retention dropped (idempotent: a run
    # missed or repeated changes nothing).
    sender.add_periodic_task(
        settings.FAILSAFE_RETENTION_SECONDS,
        sender.signature("monitoring.tasks.events_retention_apply"),
        name="monitoring.tasks.events_retention_apply",
    )
    # Due work lives in the database; these sweeps pick it up (and survive restarts).
    for task in (
        "comms.tasks.reminders_send_due",
        "comms.tasks.webhooks_send_due",
        "rollbacks.tasks.deployments_send_due",
        "incidents.tasks.action_items_send_overdue",
        "gate.tasks.gate_sweep",
    ):
        sender.add_periodic_task(
            settings.CELERY_DUE_WORK_SECONDS, sender.signature(task), name=task
        )
