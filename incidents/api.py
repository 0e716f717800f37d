from django.contrib.auth import get_user_model
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from incidents.errors import IncidentError
from incidents.forms import IncidentFilterForm
from incidents.models import Incident, TimelineEntry
from incidents.selectors import incident_get, incident_list
from incidents.services.incident import (
    incident_classify,
    incident_declare,
    incident_edit,
    incident_people_change,
    incident_status_change,
)
from incidents.services.timeline import MESSAGE_MAX_LENGTH, incident_message_post
from systems.models import AISystem


class IncidentSerializer(serializers.ModelSerializer):
    reference = serializers.CharField(read_only=True)
    systems: serializers.SlugRelatedField[AISystem] = serializers.SlugRelatedField(
        slug_field="slug", many=True, read_only=True
    )
    # None until known: the schema says so (allow_null), as the answers do.
    lead = serializers.CharField(
        source="lead.username", read_only=True, default=None, allow_null=True
    )
    time_to_detect = serializers.DurationField(read_only=True, allow_null=True)
    time_to_contain = serializers.DurationField(read_only=True, allow_null=True)
    time_to_resolve = serializers.DurationField(read_only=True, allow_null=True)

    class Meta:
        model = Incident
        fields = [
            "number",
            "reference",
            "title",
            "summary",
            "source",
            "severity",
            "harm",
            "irreversible_actions",
            "severity_override_reason",
            "status",
            "closed_as_benign",
            "systems",
            "lead",
            "declared_at",
            "onset_at",
            "detected_at",
            "contained_at",
            "resolved_at",
            "closed_at",
            "next_update_due_at",
            "time_to_detect",
            "time_to_contain",
            "time_to_resolve",
        ]


class TriageSerializer(serializers.Serializer):
    harm = serializers.ChoiceField(choices=Incident.Harm.choices)
    irreversible_actions = serializers.BooleanField()
    severity = serializers.ChoiceField(
        choices=Incident.Severity.choices, required=False, allow_blank=True, default=""
    )
    severity_override_reason = serializers.CharField(
        required=False, allow_blank=True, default="", max_length=2000
    )


class DeclareSerializer(serializers.Serializer):
    title = serializers.CharField(max_length=200)
    systems = serializers.SlugRelatedField(
        slug_field="slug", many=True, queryset=AISystem.objects.all(), allow_empty=False
    )
    summary = serializers.CharField(required=False, allow_blank=True, default="")
    harm = serializers.ChoiceField(
        choices=Incident.Harm.choices, required=False, allow_blank=True, default=""
    )
    irreversible_actions = serializers.BooleanField(required=False, allow_null=True, default=None)
    severity = serializers.ChoiceField(
        choices=Incident.Severity.choices, required=False, allow_blank=True, default=""
    )
    severity_override_reason = serializers.CharField(
        required=False, allow_blank=True, default="", max_length=2000
    )
    onset_at = serializers.DateTimeField(required=False, allow_null=True, default=None)
    detected_at = serializers.DateTimeField(required=False, allow_null=True, default=None)

    def validate(self, data):
        if data["harm"] and data["irreversible_actions"] is None:
            # Not answered: the systems' catalogs answer it.
            data["irreversible_actions"] = any(s.has_irreversible_actions for s in data["systems"])
        return data


class EditSerializer(serializers.Serializer):
    title = serializers.CharField(max_length=200, required=False)
    summary = serializers.CharField(required=False, allow_blank=True)
    onset_at = serializers.DateTimeField(required=False, allow_null=True)


class StatusSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=Incident.Status.choices)
    reason = serializers.CharField(required=False, allow_blank=True, default="", max_length=1000)
    benign = serializers.BooleanField(required=False, default=False)


class PeopleSerializer(serializers.Serializer):
    _people = get_user_model().objects.filter(is_active=True)
    lead = serializers.SlugRelatedField(slug_field="username", queryset=_people, required=False)
    scribe = serializers.SlugRelatedField(
        slug_field="username", queryset=_people, required=False, allow_null=True
    )
    comms_owner = serializers.SlugRelatedField(
        slug_field="username", queryset=_people, required=False, allow_null=True
    )

    def validate(self, data):
        if not data:
            raise serializers.ValidationError("Name at least one of lead, scribe, comms_owner.")
        return data


class MessageSerializer(serializers.Serializer):
    text = serializers.CharField(max_length=MESSAGE_MAX_LENGTH)


class TimelineEntrySerializer(serializers.ModelSerializer):
    actor = serializers.CharField(source="actor_label")

    class Meta:
        model = TimelineEntry
        fields = ["id", "at", "kind", "actor", "text", "data"]


def _call(fn, **kwargs):
    """Run a service; its refusals become 400s naming the field."""
    try:
        return fn(**kwargs)
    except IncidentError as error:
        raise serializers.ValidationError({error.field: [str(error)]}) from error


@extend_schema_view(
    list=extend_schema(
        parameters=[
            OpenApiParameter("status", str, description="A status, or `open` for any open one"),
            OpenApiParameter(
                "severity", str, description="SEV1, SEV2, SEV3, or `none` (unclassified)"
            ),
            OpenApiParameter("system", str, description="A system's slug"),
            OpenApiParameter("lead", str, description="A username, or `none`"),
        ]
    ),
    create=extend_schema(request=DeclareSerializer),
    partial_update=extend_schema(request=EditSerializer),
)
class IncidentViewSet(
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    viewsets.ReadOnlyModelViewSet,
):
    """Incidents, open ones first. Filter with ?status= (or `open`), ?severity=, ?system=,
    ?lead=. Declaring, triage, lifecycle, people and messages go through the same rules as
    the incident page."""

    serializer_class = IncidentSerializer
    lookup_field = "number"
    http_method_names = ["get", "post", "patch", "head", "options"]
    role_actions = {
        "list": "incident.view",
        "retrieve": "incident.view",
        "create": "incident.declare",
        "partial_update": "incident.triage",
        "classify": "incident.triage",
        "status": "incident.status",
        "people": "incident.view",  # the service decides: the lead, or taking an empty lead
        "timeline": "incident.view",  # posting a message: the service asks for incident.message
    }

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation: no real request
            return Incident.objects.none()
        filters = IncidentFilterForm(self.request.query_params)
        if not filters.is_valid():
            raise serializers.ValidationError(filters.errors)
        return incident_list(**{k: v for k, v in filters.cleaned_data.items() if v})

    def _incident(self):
        return incident_get(self.kwargs["number"])

    def _answer(self, incident, code=status.HTTP_200_OK):
        return Response(IncidentSerializer(incident_get(incident.number)).data, status=code)

    def create(self, request, *args, **kwargs):
        data = DeclareSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        incident = _call(incident_declare, actor=request.user, **data.validated_data)
        return self._answer(incident, status.HTTP_201_CREATED)

    def partial_update(self, request, *args, **kwargs):
        data = EditSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        incident = _call(
            incident_edit,
            actor=request.user,
            incident=self._incident(),
            **data.validated_data,
        )
        return self._answer(incident)

    def _act(self, request, serializer_class, fn, **extra):
        data = serializer_class(data=request.data)
        data.is_valid(raise_exception=True)
        incident = self._incident()
        _call(fn, actor=request.user, incident=incident, **data.validated_data, **extra)
        return self._answer(incident)

    @extend_schema(request=TriageSerializer, responses=IncidentSerializer)
    @action(detail=True, methods=["post"])
    def classify(self, request, number=None):
        return self._act(request, TriageSerializer, incident_classify)

    @extend_schema(request=StatusSerializer, responses=IncidentSerializer)
    @action(detail=True, methods=["post"])
    def status(self, request, number=None):
        return self._act(request, StatusSerializer, incident_status_change)

    @extend_schema(request=PeopleSerializer, responses=IncidentSerializer)
    @action(detail=True, methods=["post"])
    def people(self, request, number=None):
        return self._act(request, PeopleSerializer, incident_people_change)

    @extend_schema(
        methods=["post"], request=MessageSerializer, responses={201: TimelineEntrySerializer}
    )
    @extend_schema(
        methods=["get"],
        parameters=[OpenApiParameter("after", int, description="Entries after this id")],
        responses=TimelineEntrySerializer(many=True),
    )
    @action(detail=True, methods=["get", "post"], url_path="timeline")
    def timeline(self, request, number=None):
        incident = self._incident()
        if request.method == "POST":
            data = MessageSerializer(data=request.data)
            data.is_valid(raise_exception=True)
            entry = _call(
                incident_message_post,
                actor=request.user,
                incident=incident,
                text=data.validated_data["text"],
            )
            return Response(TimelineEntrySerializer(entry).data, status=status.HTTP_201_CREATED)
        try:
            after = int(request.query_params.get("after", 0))
        except ValueError as error:
            raise serializers.ValidationError({"after": ["An entry id (an integer)."]}) from error
        entries = incident.timeline.filter(pk__gt=after).order_by("pk")
        page = self.paginate_queryset(entries)
        return self.get_paginated_response(TimelineEntrySerializer(page, many=True).data)
