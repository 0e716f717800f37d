import django.core.validators
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("systems", "0005_aisystem_runbook_reviewed_at")]

    operations = [
        migrations.AddField(
            model_name="aisystem",
            name="retention_days",
            field=models.PositiveSmallIntegerField(
                default=30,
                help_text="Raw events older than this many days are deleted, a day at a time.",
                validators=[
                    django.core.validators.MinValueValidator(1),
                    django.core.validators.MaxValueValidator(3650),
                ],
            ),
        ),
    ]
