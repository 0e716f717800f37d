from django.db import migrations

from core.append_only import database_guard

ROLE_GROUPS = ["Viewer", "Reviewer", "Responder", "Incident lead", "Admin"]


def create_role_groups(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    for name in ROLE_GROUPS:
        Group.objects.get_or_create(name=name)


class Migration(migrations.Migration):
    dependencies = [
        ("core", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
    ]

    operations = [
        migrations.RunPython(create_role_groups, migrations.RunPython.noop),
        # The database itself refuses to change or remove an audit entry, whatever code asks.
        database_guard("core_auditentry", "the audit log is append-only"),
    ]
