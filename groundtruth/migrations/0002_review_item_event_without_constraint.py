import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("groundtruth", "0001_initial"),
        ("monitoring", "0006_event_retention_days"),
    ]

    operations = [
        migrations.AlterField(
            model_name="reviewitem",
            name="event",
            field=models.OneToOneField(
                db_constraint=False,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="review_item",
                to="monitoring.event",
            ),
        ),
    ]
