from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import serializers, viewsets

from incidents.forms import IncidentFilterForm
from incidents.models import Incident
from incidents.selectors import incident_list


class IncidentSerializer(serializers.ModelSerializer):
    reference = serializers.CharField(read_only=True)
    systems = serializers.SlugRelatedField(slug_field="slug", many=True, read_only=True)
    lead = serializers.CharField(source="lead.username", read_only=True, default=None)

    class Meta:
        model = Incident
        fields = [
            "number",
            "reference",
            "title",
            "summary",
            "severity",
            "status",
            "systems",
            "lead",
            "declared_at",
            "onset_at",
            "detected_at",
            "contained_at",
            "resolved_at",
            "closed_at",
        ]


@extend_schema_view(
    list=extend_schema(
        parameters=[
            OpenApiParameter("status", str, description="A status, or `open` for any open one"),
            OpenApiParameter("severity", str, enum=Incident.Severity.values),
            OpenApiParameter("system", str, description="A system's slug"),
        ]
    )
)
class IncidentViewSet(viewsets.ReadOnlyModelViewSet):
    """Incidents, newest first. Filter with ?status= (or `open`), ?severity=, ?system=."""

    serializer_class = IncidentSerializer
    lookup_field = "number"
    role_actions = {"list": "incident.view", "retrieve": "incident.view"}

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation: no real request
            return Incident.objects.none()
        filters = IncidentFilterForm(self.request.query_params)
        if not filters.is_valid():
            raise serializers.ValidationError(filters.errors)
        return incident_list(**{k: v for k, v in filters.cleaned_data.items() if v})
