"""Review plans, review items and verdicts moved to the groundtruth app.

State only: their tables stay as they are (groundtruth's models keep these table names), so
no data moves. groundtruth's 0001 depends on this one and adds them to its own state."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("monitoring", "0002_review_queue"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.DeleteModel(name="Verdict"),
                migrations.DeleteModel(name="ReviewItem"),
                migrations.DeleteModel(name="ReviewPlan"),
            ],
            database_operations=[],
        ),
    ]
