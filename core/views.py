from django.contrib.auth.decorators import login_not_required
from django.contrib.contenttypes.models import ContentType
from django.http import Http404, JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from django.views.defaults import page_not_found

from core.health import health_report
from core.permissions import role_required
from core.roles import ACTION_DESCRIPTIONS, ROLE_MATRIX, Role
from core.selectors import audit_entries, audit_entries_about


@login_not_required
@never_cache
@require_GET
def healthz(request):
    status, body = health_report()
    return JsonResponse(body, status=status)


def home(request):
    return redirect("incidents:list")


@role_required("audit.view")
def audit_log(request):
    verb = request.GET.get("verb", "").strip()
    return render(
        request,
        "core/audit_log.html",
        {"entries": audit_entries(verb_prefix=verb), "verb": verb},
    )


@role_required("audit.view")
def audit_object(request, app_label, model, object_id):
    """One object's history; it stays readable after the object itself is deleted."""
    try:
        content_type = ContentType.objects.get_by_natural_key(app_label, model)
    except ContentType.DoesNotExist:
        raise Http404("no such kind of object") from None
    entries = audit_entries_about(content_type, object_id)
    if not entries:
        raise Http404("no audit history for this object")
    return render(
        request,
        "core/audit_object.html",
        {"content_type": content_type, "target_repr": entries[0].target_repr, "entries": entries},
    )


def roles(request):
    rows = [
        (action, ACTION_DESCRIPTIONS[action], [r >= minimum for r in Role], owner_may)
        for action, (minimum, owner_may) in ROLE_MATRIX.items()
    ]
    return render(request, "core/roles.html", {"roles": list(Role), "rows": rows})


# Paths whose callers are programs: a 404 there answers the API's error shape, not a page.
MACHINE_PREFIXES = ("/api/", "/ofrep/", "/otlp/")


def not_found(request, exception):
    """The 404 handler (config/urls.py): the error shape for a path under the machine
    interface that names nothing (a malformed id, an unknown route), the page otherwise."""
    if request.path.startswith(MACHINE_PREFIXES):
        message = "Nothing here: no such route, or an id of the wrong form."
        return JsonResponse({"errors": [{"field": None, "message": message}]}, status=404)
    return page_not_found(request, exception)
