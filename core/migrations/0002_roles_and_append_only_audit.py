from django.db import migrations

ROLE_GROUPS = ["Viewer", "Reviewer", "Responder", "Incident lead", "Admin"]

# The database itself refuses to change or remove an audit entry, whatever code asks.
# vendor -> (statements that add the guard, statements that remove it)
TRIGGERS = {
    "postgresql": (
        [
            """
            CREATE FUNCTION core_auditentry_append_only() RETURNS trigger AS $$
            BEGIN
                RAISE EXCEPTION 'the audit log is append-only';
            END;
            $$ LANGUAGE plpgsql
            """,
            """
            CREATE TRIGGER core_auditentry_append_only BEFORE UPDATE OR DELETE ON core_auditentry
            FOR EACH ROW EXECUTE FUNCTION core_auditentry_append_only()
            """,
        ],
        [
            "DROP TRIGGER IF EXISTS core_auditentry_append_only ON core_auditentry",
            "DROP FUNCTION IF EXISTS core_auditentry_append_only()",
        ],
    ),
    "sqlite": (
        [
            f"""
            CREATE TRIGGER core_auditentry_no_{event.lower()} BEFORE {event} ON core_auditentry
            BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END
            """
            for event in ("UPDATE", "DELETE")
        ],
        [f"DROP TRIGGER IF EXISTS core_auditentry_no_{e}" for e in ("update", "delete")],
    ),
}


def create_role_groups(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    for name in ROLE_GROUPS:
        Group.objects.get_or_create(name=name)


def _run(schema_editor, which):
    statements = TRIGGERS.get(schema_editor.connection.vendor, ([], []))[which]
    for statement in statements:
        schema_editor.execute(statement)


def add_triggers(apps, schema_editor):
    _run(schema_editor, 0)


def drop_triggers(apps, schema_editor):
    _run(schema_editor, 1)


class Migration(migrations.Migration):
    dependencies = [
        ("core", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
    ]

    operations = [
        migrations.RunPython(create_role_groups, migrations.RunPython.noop),
        migrations.RunPython(add_triggers, drop_triggers),
    ]
