"""The machine interface of monitoring: events in, monitors and alerts out."""

from django.conf import settings
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiResponse, extend_schema
from prometheus_client import Counter
from rest_framework import serializers, status
from rest_framework.parsers import BaseParser
from rest_framework.response import Response
from rest_framework.views import APIView

from core.api import error_response
from core.permissions import HasRole, require
from monitoring.contract import BatchTooLarge, NotJSON
from monitoring.models import Alert, Monitor
from monitoring.services.ingest import IngestError, events_ingest
from monitoring.services.monitors import MONITOR_FIELDS, monitor_create
from systems.models import AISystem, SystemToken


class RawBody(BaseParser):
    """The events endpoint reads its body itself (with its own size limit)."""

    media_type = "application/json"

    def parse(self, stream, media_type=None, parser_context=None):
        return None


# Refused batches are stored nowhere, so they are counted here, per process (docs/METRICS.md).
INGEST_REJECTS = Counter(
    "failsafe_ingest_rejects",
    "Event batches refused whole by this process, by reason.",
    ["reason"],
)
INGEST_REJECT_REASONS = ("too_large", "not_json", "invalid")
for _reason in INGEST_REJECT_REASONS:  # each series exists from the start, at 0
    INGEST_REJECTS.labels(_reason)


def _refused(reason: str, status_code: int, message: str):
    INGEST_REJECTS.labels(reason).inc()
    return error_response(status_code, message, "events")


class EventsView(APIView):
    """Report a batch of events (docs/INTERFACE.md, "Events"): `{"events": [...]}`, at most 5,000.

    `202 {"accepted", "duplicates"}`; a batch with any invalid event is refused whole with
    `400 {"errors": [{"index", "field", "message"}]}` and nothing is stored; `413` when it
    is too large. Token scope `events:write`, the token's own system only."""

    permission_classes = [HasRole]
    parser_classes = [RawBody]
    token_scopes = {"post": SystemToken.Scope.EVENTS_WRITE}
    role_actions: dict = {}

    @extend_schema(
        request=dict,
        responses={
            202: dict,
            400: OpenApiResponse(description="Nothing stored; every problem with its index"),
            413: OpenApiResponse(description="More than 5,000 events, or too many bytes"),
        },
    )
    def post(self, request, slug):
        system = get_object_or_404(AISystem, slug=slug)
        limit = settings.FAILSAFE_EVENTS_MAX_BYTES
        if int(request.META.get("CONTENT_LENGTH") or 0) > limit:
            return _refused("too_large", 413, f"At most {limit} bytes per request.")
        body = request._request.read(limit + 1)
        if len(body) > limit:
            return _refused("too_large", 413, f"At most {limit} bytes per request.")
        # Too many events (contract.BatchTooLarge, a 413) goes to the API's error handler;
        # a refused batch is answered here, every problem with its event's index.
        try:
            counts = events_ingest(system=system, body=body)
        except NotJSON as error:
            return _refused("not_json", 400, error.message)
        except BatchTooLarge:
            INGEST_REJECTS.labels("too_large").inc()
            raise
        except IngestError as error:
            INGEST_REJECTS.labels("invalid").inc()
            return Response({"errors": error.problems}, status=status.HTTP_400_BAD_REQUEST)
        return Response(counts, status=status.HTTP_202_ACCEPTED)


class MonitorSerializer(serializers.ModelSerializer):
    class Meta:
        model = Monitor
        fields = ["id", *MONITOR_FIELDS, "status", "baseline_at", "detector"]
        read_only_fields = ["id", "status", "baseline_at", "detector"]


class AlertSerializer(serializers.ModelSerializer):
    # null for an alert sent by another tool (its `source`, `fingerprint` and `labels` say which).
    monitor = serializers.CharField(source="monitor.name", default=None)
    incident = serializers.IntegerField(source="incident.number", default=None)

    class Meta:
        model = Alert
        fields = [
            "id",
            "monitor",
            "source",
            "fingerprint",
            "labels",
            "last_seen_at",
            "status",
            "summary",
            "opened_at",
            "onset_at",
            "resolved_at",
            "incident",
            "evidence",
        ]


class MonitorListView(APIView):
    """A system's monitors; POST adds one (responder and above, or the system's owner).
    `detector` shows the calibrated thresholds and the false-alarm rate they were set for."""

    permission_classes = [HasRole]
    role_actions = {"get": "system.view", "post": "system.view"}  # POST: checked below

    @extend_schema(responses=MonitorSerializer(many=True))
    def get(self, request, slug):
        system = get_object_or_404(AISystem, slug=slug)
        return Response(MonitorSerializer(system.monitors.all(), many=True).data)

    @extend_schema(request=MonitorSerializer, responses={201: MonitorSerializer})
    def post(self, request, slug):
        system = get_object_or_404(AISystem, slug=slug)
        require(request.user, "monitor.manage", system)
        data = MonitorSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        # A refused monitor (MonitorError) is answered by the API's error handler.
        monitor = monitor_create(actor=request.user, system=system, **data.validated_data)
        return Response(MonitorSerializer(monitor).data, status=status.HTTP_201_CREATED)


class AlertListView(APIView):
    """A system's alerts, newest first (`?status=open` for the open ones)."""

    permission_classes = [HasRole]
    role_actions = {"get": "system.view"}

    @extend_schema(responses=AlertSerializer(many=True))
    def get(self, request, slug):
        alerts = Alert.objects.filter(system=get_object_or_404(AISystem, slug=slug))
        wanted = request.query_params.get("status")
        if wanted:
            if wanted not in Alert.Status.values:
                raise serializers.ValidationError({"status": [f"One of {Alert.Status.values}."]})
            alerts = alerts.filter(status=wanted)
        alerts = alerts.select_related("monitor", "incident")[:200]
        return Response(AlertSerializer(alerts, many=True).data)
