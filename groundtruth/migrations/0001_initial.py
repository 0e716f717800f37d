"""Review plans, review items and verdicts, moved here from monitoring.

The tables already exist (monitoring's 0002 made them, under the names these models keep),
so the models are added to the state only. Their content types are relabelled from
monitoring to groundtruth, so the audit entries about them still find them."""

import django.db.models.deletion
import django.utils.timezone
from django.conf import settings
from django.db import migrations, models

MOVED = ("reviewplan", "reviewitem", "verdict")


def _relabel(apps, old: str, new: str) -> None:
    ContentType = apps.get_model("contenttypes", "ContentType")
    AuditEntry = apps.get_model("core", "AuditEntry")
    for model in MOVED:
        before = ContentType.objects.filter(app_label=old, model=model).first()
        if before is None:
            continue
        after = ContentType.objects.filter(app_label=new, model=model).first()
        if after is None:
            before.app_label = new
            before.save(update_fields=["app_label"])
        else:
            AuditEntry.objects.filter(target_type=before).update(target_type=after)
            before.delete()


def content_types_forward(apps, schema_editor):
    _relabel(apps, "monitoring", "groundtruth")


def content_types_backward(apps, schema_editor):
    _relabel(apps, "groundtruth", "monitoring")


class Migration(migrations.Migration):
    initial = True

    dependencies = [
        ("contenttypes", "0002_remove_content_type_name"),
        ("core", "0002_roles_and_append_only_audit"),
        ("incidents", "0003_incident_list_open_first"),
        ("monitoring", "0003_ground_truth_moves_out"),
        ("systems", "0004_aisystem_false_pages_per_month"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="ReviewItem",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True,
                                primary_key=True,
                                serialize=False,
                                verbose_name="ID",
                            ),
                        ),
                        (
                            "probability",
                            models.FloatField(help_text="The chance with which it was sampled."),
                        ),
                        ("stratum", models.CharField(blank=True, max_length=100)),
                        ("reviews_needed", models.PositiveSmallIntegerField(default=1)),
                        ("sampled_at", models.DateTimeField(default=django.utils.timezone.now)),
                        (
                            "status",
                            models.CharField(
                                choices=[
                                    ("open", "awaiting review"),
                                    ("disputed", "reviewers disagree: needs a third look"),
                                    ("done", "reviewed"),
                                ],
                                default="open",
                                max_length=8,
                            ),
                        ),
                        ("correct", models.BooleanField(blank=True, null=True)),
                        ("decided_at", models.DateTimeField(blank=True, null=True)),
                        (
                            "event",
                            models.OneToOneField(
                                on_delete=django.db.models.deletion.CASCADE,
                                related_name="review_item",
                                to="monitoring.event",
                            ),
                        ),
                        (
                            "incident",
                            models.ForeignKey(
                                blank=True,
                                null=True,
                                on_delete=django.db.models.deletion.SET_NULL,
                                related_name="+",
                                to="incidents.incident",
                            ),
                        ),
                        (
                            "system",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.CASCADE,
                                related_name="+",
                                to="systems.aisystem",
                            ),
                        ),
                    ],
                    options={
                        "db_table": "monitoring_reviewitem",
                        "ordering": ["sampled_at", "id"],
                        "indexes": [
                            models.Index(
                                fields=["status", "system", "sampled_at"], name="review_queue"
                            )
                        ],
                    },
                ),
                migrations.CreateModel(
                    name="ReviewPlan",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True,
                                primary_key=True,
                                serialize=False,
                                verbose_name="ID",
                            ),
                        ),
                        ("active", models.BooleanField(default=True)),
                        (
                            "per_day",
                            models.PositiveIntegerField(
                                default=40,
                                help_text="Outputs to review a day: the queue's daily target.",
                            ),
                        ),
                        ("oversample", models.JSONField(blank=True, default=dict)),
                        (
                            "double_share",
                            models.FloatField(
                                default=0.05,
                                help_text="Share of sampled outputs that two reviewers judge, "
                                "blind.",
                            ),
                        ),
                        (
                            "baseline_days",
                            models.PositiveSmallIntegerField(
                                default=28,
                                help_text="The accuracy baseline: reviews of the previous … days.",
                            ),
                        ),
                        ("sampled_through", models.BigIntegerField(default=0)),
                        ("sampled_at", models.DateTimeField(blank=True, null=True)),
                        (
                            "system",
                            models.OneToOneField(
                                on_delete=django.db.models.deletion.CASCADE,
                                related_name="review_plan",
                                to="systems.aisystem",
                            ),
                        ),
                    ],
                    options={"db_table": "monitoring_reviewplan"},
                ),
                migrations.CreateModel(
                    name="Verdict",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True,
                                primary_key=True,
                                serialize=False,
                                verbose_name="ID",
                            ),
                        ),
                        ("correct", models.BooleanField()),
                        (
                            "expected",
                            models.CharField(
                                blank=True, help_text="The right label or output.", max_length=500
                            ),
                        ),
                        ("note", models.TextField(blank=True)),
                        ("at", models.DateTimeField(default=django.utils.timezone.now)),
                        (
                            "item",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.CASCADE,
                                related_name="verdicts",
                                to="groundtruth.reviewitem",
                            ),
                        ),
                        (
                            "reviewer",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.PROTECT,
                                related_name="+",
                                to=settings.AUTH_USER_MODEL,
                            ),
                        ),
                    ],
                    options={
                        "db_table": "monitoring_verdict",
                        "ordering": ["at"],
                        "constraints": [
                            models.UniqueConstraint(
                                fields=("item", "reviewer"), name="verdict_one_per_reviewer"
                            )
                        ],
                    },
                ),
            ],
            database_operations=[],
        ),
        migrations.RunPython(content_types_forward, content_types_backward),
    ]
