from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin

from core.models import AuditEntry, Heartbeat
from core.services import audit_record


class ReadOnlyMixin:
    """Inspection only: state changes go through the services, which write the audit log."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class ReadOnlyAdmin(ReadOnlyMixin, admin.ModelAdmin):
    pass


@admin.register(AuditEntry)
class AuditEntryAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "actor_label", "verb", "target_repr", "reason"]
    list_filter = ["verb", "target_type"]
    search_fields = ["actor_label", "verb", "target_repr", "reason"]
    date_hierarchy = "created_at"


@admin.register(Heartbeat)
class HeartbeatAdmin(ReadOnlyAdmin):
    list_display = ["name", "beat_at"]


User = get_user_model()
admin.site.unregister(User)


@admin.register(User)
class AuditedUserAdmin(UserAdmin):
    """Granting a role is a state change like any other: it goes in the audit log."""

    def save_related(self, request, form, formsets, change):
        user = form.instance
        before = sorted(user.groups.values_list("name", flat=True)) if change else []
        super().save_related(request, form, formsets, change)
        after = sorted(user.groups.values_list("name", flat=True))
        if before != after:
            audit_record(
                actor=request.user,
                verb="user.roles_change",
                target=user,
                before={"groups": before},
                after={"groups": after},
            )
