"""Comms' machine interface: posting an incident's status update."""

from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from comms.services.status_updates import UPDATE_FIELD_MAX, status_update_post
from core.permissions import HasRole
from incidents.api import IncidentSerializer
from incidents.selectors import incident_get


class StatusUpdateSerializer(serializers.Serializer):
    known = serializers.CharField(max_length=UPDATE_FIELD_MAX)
    doing = serializers.CharField(max_length=UPDATE_FIELD_MAX)
    next_update_at = serializers.DateTimeField(required=False, allow_null=True, default=None)


class StatusUpdateView(APIView):
    """Post a status update on an open incident: what we know, what we are doing, and
    (optionally, no later than the severity's cadence) when the next one is due. The
    same rules as the incident page; answers the incident, with its next update due."""

    permission_classes = [HasRole]
    role_actions = {"post": "incident.update"}

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "number", int, OpenApiParameter.PATH, description="The incident's number"
            )
        ],
        request=StatusUpdateSerializer,
        responses={
            200: IncidentSerializer,
            400: OpenApiResponse(description="The update refused, naming the field at fault"),
        },
    )
    def post(self, request, number):
        data = StatusUpdateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        incident = incident_get(number)
        status_update_post(actor=request.user, incident=incident, **data.validated_data)
        return Response(IncidentSerializer(incident_get(incident.number)).data)
