from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.views import APIView

from core.api import error_response
from core.permissions import HasRole
from rollbacks.bundle import bundle_entry_for, bundle_key
from systems.mode_api import cached_answer, fast_read
from systems.models import SystemToken

BUNDLE_SCOPE = SystemToken.Scope.BUNDLE_READ


class BundleView(APIView):
    """The active version of each surface (model, prompt, retrieval, config) with its
    content. AI systems read it with their token (scope `bundle:read`), `If-None-Match`
    for a 304; people with the viewer role can read it too."""

    permission_classes = [HasRole]
    role_actions = {"get": "system.view"}
    token_scopes = {"get": BUNDLE_SCOPE}

    def dispatch(self, request, *args, **kwargs):
        if request.method == "GET":
            slug = kwargs["slug"]
            fast = fast_read(
                request, slug, key=bundle_key(slug), scope=BUNDLE_SCOPE, load=bundle_entry_for
            )
            if fast is not None:
                return fast
        return super().dispatch(request, *args, **kwargs)

    @extend_schema(responses={200: dict, 304: OpenApiResponse(description="Unchanged")})
    def get(self, request, slug):
        entry = bundle_entry_for(slug)
        if entry is None:
            return error_response(status.HTTP_404_NOT_FOUND, "No system with this slug.")
        return cached_answer(request, entry)
