from django.contrib import admin

from core.admin import ReadOnlyAdmin, ReadOnlyMixin
from systems.models import ActionType, AISystem, RunbookVersion, SystemToken


class ActionTypeInline(ReadOnlyMixin, admin.TabularInline):
    model = ActionType
    extra = 0


@admin.register(AISystem)
class AISystemAdmin(ReadOnlyAdmin):
    list_display = ["slug", "name", "kind", "owner", "has_human_fallback"]
    list_filter = ["kind", "has_human_fallback"]
    search_fields = ["slug", "name"]
    inlines = [ActionTypeInline]


@admin.register(ActionType)
class ActionTypeAdmin(ReadOnlyAdmin):
    list_display = ["system", "name", "reversible", "user_visible"]
    list_filter = ["reversible", "user_visible"]


@admin.register(RunbookVersion)
class RunbookVersionAdmin(ReadOnlyAdmin):
    list_display = ["system", "number", "author", "created_at"]


@admin.register(SystemToken)
class SystemTokenAdmin(ReadOnlyAdmin):
    list_display = ["system", "name", "prefix", "created_at", "last_used_at", "revoked_at"]
    exclude = ["token_hash"]
