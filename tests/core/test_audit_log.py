import pytest
from django.db import DatabaseError, connection, transaction

from core.models import AppendOnlyError, AuditEntry
from core.services import audit_record
from systems.services import system_update

pytestmark = pytest.mark.django_db


def test_a_change_through_a_service_writes_who_what_before_after_and_why(system, admin_user):
    system_update(actor=admin_user, system=system, name="Refund sorter")
    entry = AuditEntry.objects.get(verb="system.update")
    assert entry.actor == admin_user
    assert entry.actor_label == "ada"
    assert entry.target_repr == "Refund sorter"
    assert entry.changes() == [("name", "Refund classifier", "Refund sorter")]


def test_a_save_that_changes_nothing_writes_no_entry(system, admin_user):
    system_update(actor=admin_user, system=system, name=system.name)
    assert not AuditEntry.objects.filter(verb="system.update").exists()


def test_entries_cannot_be_changed_or_deleted_through_the_orm(system, admin_user):
    entry = audit_record(actor=admin_user, verb="system.touch", target=system, reason="test")
    entry.reason = "rewritten"
    with pytest.raises(AppendOnlyError):
        entry.save()
    with pytest.raises(AppendOnlyError):
        entry.delete()
    with pytest.raises(AppendOnlyError):
        AuditEntry.objects.filter(pk=entry.pk).update(reason="rewritten")
    with pytest.raises(AppendOnlyError):
        AuditEntry.objects.all().delete()


def test_the_database_refuses_to_change_or_delete_entries_even_in_raw_sql(system, admin_user):
    entry = audit_record(actor=admin_user, verb="system.touch", target=system, reason="kept")
    for sql in (
        "UPDATE core_auditentry SET reason = 'rewritten' WHERE id = %s",
        "DELETE FROM core_auditentry WHERE id = %s",
    ):
        with (
            pytest.raises(DatabaseError, match="append-only"),
            transaction.atomic(),
            connection.cursor() as cursor,
        ):
            cursor.execute(sql, [entry.pk])
    assert AuditEntry.objects.get(pk=entry.pk).reason == "kept"


def test_a_person_with_history_cannot_be_deleted_only_deactivated(system, admin_user):
    from django.db.models import ProtectedError

    audit_record(actor=admin_user, verb="system.touch", target=system)
    with pytest.raises(ProtectedError):
        admin_user.delete()


def test_the_history_page_of_an_object_lists_its_entries(client_for, viewer, system, admin_user):
    system_update(actor=admin_user, system=system, description="Sorts <b>refunds</b>")
    response = client_for(viewer).get(f"/audit/systems/aisystem/{system.pk}/")
    assert response.status_code == 200
    assert b"system.update" in response.content
    assert b"Sorts &lt;b&gt;refunds&lt;/b&gt;" in response.content


def test_the_history_page_is_closed_to_someone_without_a_role(client_for, outsider, system):
    audit_record(actor=None, verb="system.touch", target=system)
    assert client_for(outsider).get(f"/audit/systems/aisystem/{system.pk}/").status_code == 403


def test_the_history_of_an_unknown_object_is_not_found(client_for, viewer):
    assert client_for(viewer).get("/audit/systems/aisystem/999999/").status_code == 404
    assert client_for(viewer).get("/audit/nope/nothing/1/").status_code == 404
