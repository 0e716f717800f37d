from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from core.permissions import HasRole, require
from rollbacks import services
from rollbacks.bundle import bundle_entry_for, bundle_key
from rollbacks.models import ChangeRequest, Deployment, Surface, Version
from systems.mode_api import CachedReadView
from systems.models import AISystem, SystemToken

BUNDLE_SCOPE = SystemToken.Scope.BUNDLE_READ


class BundleView(CachedReadView):
    """The active version of each surface (model, prompt, retrieval, config) with its
    content. AI systems read it with their token (scope `bundle:read`), `If-None-Match`
    for a 304; people with the viewer role can read it too."""

    role_actions = {"get": "system.view"}
    token_scopes = {"get": BUNDLE_SCOPE}
    read_scope = BUNDLE_SCOPE
    cache_key = staticmethod(bundle_key)
    load_entry = staticmethod(bundle_entry_for)

    @extend_schema(responses={200: dict, 304: OpenApiResponse(description="Unchanged")})
    def get(self, request, slug):
        return self.read(request, slug)


class VersionSerializer(serializers.ModelSerializer):
    reference = serializers.CharField(read_only=True)
    created_by = serializers.CharField(source="created_by_label", read_only=True)

    class Meta:
        model = Version
        fields = ["surface", "number", "reference", "content", "note", "created_by", "created_at"]
        read_only_fields = ["number", "created_at"]


class DeploymentSerializer(serializers.ModelSerializer):
    from_version = serializers.IntegerField(source="from_version.number", default=None)
    to_version = serializers.IntegerField(source="to_version.number")
    actor = serializers.CharField(source="actor_label")

    class Meta:
        model = Deployment
        fields = ["surface", "kind", "from_version", "to_version", "actor", "reason", "at"]


class DeployRequestSerializer(serializers.Serializer):
    surface = serializers.ChoiceField(choices=Surface.choices)
    number = serializers.IntegerField(min_value=1)
    reason = serializers.CharField(max_length=2000)
    not_before = serializers.DateTimeField(required=False, allow_null=True)
    break_glass = serializers.BooleanField(required=False, default=False)


def _system(slug):
    return get_object_or_404(AISystem, slug=slug)


class VersionListView(APIView):
    """A system's versions, newest first (`?surface=` to filter); POST adds one. Versions
    are immutable: there is no update or delete."""

    permission_classes = [HasRole]
    role_actions = {"get": "system.view", "post": "system.view"}  # POST: checked below

    @extend_schema(responses=VersionSerializer(many=True))
    def get(self, request, slug):
        versions = Version.objects.filter(system=_system(slug)).order_by("surface", "-number")
        surface = request.query_params.get("surface")
        if surface:
            if surface not in Surface.values:
                raise serializers.ValidationError({"surface": [f"One of {Surface.values}."]})
            versions = versions.filter(surface=surface)
        return Response(VersionSerializer(versions, many=True).data)

    @extend_schema(request=VersionSerializer, responses={201: VersionSerializer})
    def post(self, request, slug):
        system = _system(slug)
        require(request.user, "version.add", system)
        data = VersionSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        version = services.version_add(actor=request.user, system=system, **data.validated_data)
        return Response(VersionSerializer(version).data, status=status.HTTP_201_CREATED)


class DeploymentListView(APIView):
    """A system's deployments, newest first; POST deploys a version (a rollback when it is
    older than the active one)."""

    permission_classes = [HasRole]
    role_actions = {"get": "system.view", "post": "version.deploy"}

    @extend_schema(responses=DeploymentSerializer(many=True))
    def get(self, request, slug):
        deployments = Deployment.objects.filter(system=_system(slug)).select_related(
            "from_version", "to_version"
        )[:200]
        return Response(DeploymentSerializer(deployments, many=True).data)

    @extend_schema(request=DeployRequestSerializer, responses={201: DeploymentSerializer})
    def post(self, request, slug):
        data = DeployRequestSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        surface, number = data.validated_data["surface"], data.validated_data["number"]
        version = Version.objects.filter(
            system=_system(slug), surface=surface, number=number
        ).first()
        if version is None:
            raise serializers.ValidationError({"number": [f"No {surface} v{number}."]})
        result = services.version_activate(
            actor=request.user,
            version=version,
            reason=data.validated_data["reason"],
            not_before=data.validated_data.get("not_before"),
            break_glass=data.validated_data["break_glass"],
        )
        if isinstance(result, ChangeRequest):
            # Waiting for a second person's approval, or for its time.
            body = {"change_request": result.pk, "state": result.state}
            return Response(body, status=status.HTTP_202_ACCEPTED)
        return Response(DeploymentSerializer(result).data, status=status.HTTP_201_CREATED)
