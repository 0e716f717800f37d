from rest_framework import serializers, viewsets

from systems.models import ActionType, AISystem
from systems.selectors import system_list


class ActionTypeSerializer(serializers.ModelSerializer):
    class Meta:
        model = ActionType
        fields = ["name", "description", "reversible", "user_visible"]


class AISystemSerializer(serializers.ModelSerializer):
    owner = serializers.CharField(source="owner.username", read_only=True)
    action_types = ActionTypeSerializer(many=True, read_only=True)

    class Meta:
        model = AISystem
        fields = [
            "slug",
            "name",
            "kind",
            "owner",
            "description",
            "has_human_fallback",
            "human_fallback",
            "degraded_behaviour",
            "action_types",
            "created_at",
            "updated_at",
        ]


class AISystemViewSet(viewsets.ReadOnlyModelViewSet):
    """AI systems under watch. A system token reads only its own system."""

    serializer_class = AISystemSerializer
    lookup_field = "slug"
    role_actions = {"list": "system.view", "retrieve": "system.view"}
    token_scopes = {"retrieve": "system:read"}

    def get_queryset(self):
        return system_list().order_by("slug")
