from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("monitoring", "0005_rollup_compaction")]

    operations = [
        migrations.AddField(
            model_name="event",
            name="retention_days",
            field=models.PositiveSmallIntegerField(default=30),
        ),
        migrations.RemoveConstraint(model_name="event", name="event_unique_client_id"),
        migrations.AddConstraint(
            model_name="event",
            constraint=models.UniqueConstraint(
                fields=("system", "client_id", "retention_days", "ts"),
                name="event_unique_client_id",
            ),
        ),
    ]
