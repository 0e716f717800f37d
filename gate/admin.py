"""Read-only, like every domain model: changes go through gate.services (audited)."""

from django.contrib import admin

from core.admin import ReadOnlyAdmin
from gate.models import GateRule, Hold


@admin.register(GateRule)
class GateRuleAdmin(ReadOnlyAdmin):
    list_display = ["action_type", "breaker_factor", "cap", "unreachable", "tripped_at"]


@admin.register(Hold)
class HoldAdmin(ReadOnlyAdmin):
    list_display = ["code", "system", "action_type", "subject", "cause", "status", "created_at"]
    list_filter = ["status", "cause"]
