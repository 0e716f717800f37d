"""The machine interface of ground truth: sampled outputs and their verdicts."""

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from core.permissions import HasRole
from groundtruth import services
from groundtruth.models import ReviewItem, Verdict


class VerdictSerializer(serializers.ModelSerializer):
    reviewer = serializers.CharField(source="reviewer.username", read_only=True)

    class Meta:
        model = Verdict
        fields = ["reviewer", "correct", "expected", "note", "at"]
        read_only_fields = ["reviewer", "at"]


class ReviewItemSerializer(serializers.ModelSerializer):
    system = serializers.CharField(source="system.slug")
    event = serializers.CharField(source="event.client_id")
    incident = serializers.IntegerField(source="incident.number", default=None)
    verdicts = serializers.SerializerMethodField()

    class Meta:
        model = ReviewItem
        fields = [
            "id",
            "system",
            "event",
            "incident",
            "probability",
            "stratum",
            "reviews_needed",
            "status",
            "correct",
            "sampled_at",
            "decided_at",
            "verdicts",
        ]

    @extend_schema_field(VerdictSerializer(many=True))
    def get_verdicts(self, item):
        # Blind double review: an undecided item's verdicts stay hidden.
        if item.status != ReviewItem.Status.DONE:
            return []
        return VerdictSerializer(item.verdicts.all(), many=True).data


class ReviewItemListView(APIView):
    """Sampled outputs and their verdicts (`?system=`, `?status=open|disputed|done`,
    `?incident=`), newest first. Reviewer role and above."""

    permission_classes = [HasRole]
    role_actions = {"get": "review.view"}

    @extend_schema(responses=ReviewItemSerializer(many=True))
    def get(self, request):
        items = ReviewItem.objects.select_related("system", "event", "incident").prefetch_related(
            "verdicts__reviewer"
        )
        params = request.query_params
        if params.get("system"):
            items = items.filter(system__slug=params["system"])
        if params.get("status"):
            if params["status"] not in ReviewItem.Status.values:
                raise serializers.ValidationError(
                    {"status": [f"One of {ReviewItem.Status.values}."]}
                )
            items = items.filter(status=params["status"])
        if params.get("incident"):
            if not params["incident"].isdigit():
                raise serializers.ValidationError({"incident": ["An incident number."]})
            items = items.filter(incident__number=int(params["incident"]))
        return Response(ReviewItemSerializer(items.order_by("-id")[:500], many=True).data)


class VerdictCreateView(APIView):
    """Give a verdict on a sampled output, as the review queue does. A refused verdict
    (`services.ReviewError`) is answered by the API's error handler."""

    permission_classes = [HasRole]
    role_actions = {"post": "review.view"}

    @extend_schema(request=VerdictSerializer, responses={201: ReviewItemSerializer})
    def post(self, request, pk):
        item = get_object_or_404(ReviewItem, pk=pk)
        data = VerdictSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        item = services.verdict_record(actor=request.user, item=item, **data.validated_data)
        return Response(ReviewItemSerializer(item).data, status=status.HTTP_201_CREATED)
