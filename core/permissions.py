"""Server-side enforcement of the role matrix, for pages and for the API."""

from functools import wraps

from django.core.exceptions import PermissionDenied
from rest_framework.permissions import BasePermission

from core.roles import can, role_of


def require(user, action: str, obj=None) -> None:
    if not can(user, action, obj):
        raise PermissionDenied(action)


def role_required(action: str):
    """Page decorator: the signed-in person must be allowed `action` (403 otherwise)."""

    def decorator(view):
        @wraps(view)
        def wrapped(request, *args, **kwargs):
            require(request.user, action)
            return view(request, *args, **kwargs)

        return wrapped

    return decorator


def _view_action(request, view) -> str:
    return getattr(view, "action", None) or request.method.lower()


class HasRole(BasePermission):
    """Deny unless the view grants this action.

    People: `role_actions` maps the DRF action (or HTTP method) to a role-matrix action.
    AI systems: `token_scopes` maps it to the scope a system token needs, and the token
    only ever reaches its own system (the `slug` in the URL).
    """

    def has_permission(self, request, view):
        if not hasattr(view, request.method.lower()):
            return True  # a method the view does not have: let DRF answer 405
        name = _view_action(request, view)
        token = request.auth
        if getattr(token, "is_system_token", False):
            scope = getattr(view, "token_scopes", {}).get(name)
            return scope is not None and token.allows(scope, view.kwargs.get("slug"))
        action = getattr(view, "role_actions", {}).get(name)
        return action is not None and can(request.user, action)


class IsSignedIn(BasePermission):
    """Anyone with a role, or any valid system token: for the API schema."""

    def has_permission(self, request, view):
        return getattr(request.auth, "is_system_token", False) or role_of(request.user) is not None
