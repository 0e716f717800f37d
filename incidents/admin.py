from django.contrib import admin

from core.admin import ReadOnlyAdmin
from incidents.models import Incident


@admin.register(Incident)
class IncidentAdmin(ReadOnlyAdmin):
    list_display = ["number", "title", "severity", "status", "lead", "declared_at"]
    list_filter = ["severity", "status"]
    search_fields = ["title"]
