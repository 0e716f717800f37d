"""Tables whose rows are never changed or removed: the database itself refuses.

`AppendOnlyQuerySet` and `AppendOnlyModel` stop the ORM; `database_guard(table)` is a
migration operation that adds a trigger so no other code path can either.
"""

from django.db import migrations, models


class AppendOnlyError(Exception):
    """This record is append-only: its rows are never changed or removed."""


class AppendOnlyQuerySet(models.QuerySet):
    def update(self, **kwargs):
        raise AppendOnlyError(f"{self.model._meta.verbose_name_plural} cannot be updated")

    def delete(self):
        raise AppendOnlyError(f"{self.model._meta.verbose_name_plural} cannot be deleted")


class AppendOnlyModel(models.Model):
    objects = AppendOnlyQuerySet.as_manager()

    class Meta:
        abstract = True

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise AppendOnlyError(f"{self._meta.verbose_name_plural} cannot be changed")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise AppendOnlyError(f"{self._meta.verbose_name_plural} cannot be deleted")


def _statements(vendor: str, table: str, message: str) -> tuple[list[str], list[str]]:
    if vendor == "postgresql":
        function = f"{table}_append_only"
        return (
            [
                f"""
                CREATE FUNCTION {function}() RETURNS trigger AS $$
                BEGIN
                    RAISE EXCEPTION '{message}';
                END;
                $$ LANGUAGE plpgsql
                """,
                f"""
                CREATE TRIGGER {function} BEFORE UPDATE OR DELETE ON {table}
                FOR EACH ROW EXECUTE FUNCTION {function}()
                """,
            ],
            [
                f"DROP TRIGGER IF EXISTS {function} ON {table}",
                f"DROP FUNCTION IF EXISTS {function}()",
            ],
        )
    if vendor == "sqlite":
        events = ("update", "delete")
        return (
            [
                f"""
                CREATE TRIGGER {table}_no_{event} BEFORE {event.upper()} ON {table}
                BEGIN SELECT RAISE(ABORT, '{message}'); END
                """
                for event in events
            ],
            [f"DROP TRIGGER IF EXISTS {table}_no_{event}" for event in events],
        )
    return [], []


def database_guard(table: str, message: str) -> migrations.RunPython:
    """A migration operation: UPDATE and DELETE on `table` raise `message`."""

    def add(apps, schema_editor):
        for statement in _statements(schema_editor.connection.vendor, table, message)[0]:
            schema_editor.execute(statement)

    def drop(apps, schema_editor):
        for statement in _statements(schema_editor.connection.vendor, table, message)[1]:
            schema_editor.execute(statement)

    return migrations.RunPython(add, drop)
