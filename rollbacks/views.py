import json

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from core.forms import add_service_error
from core.permissions import require, role_required
from rollbacks import services
from rollbacks.diff import version_diff
from rollbacks.forms import ActivateForm, VersionForm
from rollbacks.models import (
    ActiveVersion,
    ChangeRequest,
    ConfigSchema,
    Deployment,
    Surface,
    Version,
)
from rollbacks.selectors import system_changes
from rollbacks.surfaces import DEFAULT_CONFIG_SCHEMA, InvalidVersion
from systems.models import AISystem


def _surfaces(system):
    active = {
        a.surface: a.version_id
        for a in ActiveVersion.objects.filter(system=system).only("surface", "version_id")
    }
    versions = {s: [] for s in Surface.values}
    for version in Version.objects.filter(system=system).order_by("surface", "-number"):
        versions[version.surface].append(version)
    return [
        {
            "surface": surface,
            "label": label,
            "versions": versions[surface],
            "active": next((v for v in versions[surface] if v.pk == active.get(surface)), None),
        }
        for surface, label in Surface.choices
    ]


@role_required("system.view")
def versions_page(request, slug, form=None, status=200):
    system = get_object_or_404(AISystem, slug=slug)
    schema = ConfigSchema.objects.filter(system=system).values_list("schema", flat=True).first()
    context = {
        "system": system,
        "surfaces": _surfaces(system),
        "requests": ChangeRequest.objects.filter(system=system)
        .select_related("version", "requested_by", "decided_by")
        .order_by("-requested_at")[:20],
        "glass_broken": Deployment.objects.filter(system=system, break_glass=True)
        .select_related("to_version")
        .order_by("-at")[:20],
        "form": form,
        "config_schema": schema or DEFAULT_CONFIG_SCHEMA,
        "schema_is_default": schema is None,
    }
    return render(request, "rollbacks/versions.html", context, status=status)


@require_POST
def version_new(request, slug):
    system = get_object_or_404(AISystem, slug=slug)
    require(request.user, "version.add", system)
    form = VersionForm(request.POST)
    try:
        if not form.is_valid():
            raise ValidationError("invalid")
        version = services.version_add(
            actor=request.user,
            system=system,
            surface=form.cleaned_data["surface"],
            content=form.content(),
            note=form.cleaned_data["note"],
        )
    except ValidationError as error:
        if hasattr(error, "error_dict"):
            for field, errors in error.error_dict.items():
                form.add_error(field, errors)
        return versions_page(request, slug, form=form, status=400)
    except InvalidVersion as invalid:
        add_service_error(form, invalid)
        return versions_page(request, slug, form=form, status=400)
    messages.success(request, f"{version.reference} added. Deploy it when it should run.")
    return redirect("rollbacks:versions", slug=slug)


@require_POST
@role_required("version.deploy")
def version_activate(request, slug, surface, number):
    """Deploy a version, or roll back to it when it is older than the active one."""
    version = get_object_or_404(Version, system__slug=slug, surface=surface, number=number)
    form = ActivateForm(request.POST)
    back = request.POST.get("next") or f"/systems/{slug}/versions/"
    if not form.is_valid():
        messages.error(request, "Say why: the reason goes on every open incident.")
        return redirect(back)
    try:
        result = services.version_activate(
            actor=request.user,
            version=version,
            reason=form.cleaned_data["reason"],
            not_before=form.cleaned_data.get("not_before"),
            break_glass=form.cleaned_data.get("break_glass", False),
        )
    except services.DeploymentRefused as refused:
        messages.error(request, str(refused))
    else:
        if isinstance(result, ChangeRequest):
            waits = "a second person's approval" if result.state == "pending" else "its time"
            messages.success(request, f"{version.reference} waits for {waits}.")
        else:
            glass = ", breaking the glass" if result.break_glass else ""
            messages.success(request, f"{version.reference} is active ({result.kind}{glass}).")
    return redirect(back)


@role_required("system.view")
def version_compare(request, slug, surface):
    system = get_object_or_404(AISystem, slug=slug)
    old = get_object_or_404(Version, system=system, surface=surface, number=request.GET.get("a"))
    new = get_object_or_404(Version, system=system, surface=surface, number=request.GET.get("b"))
    lines = version_diff(surface, old.content, new.content)
    context = {"system": system, "old": old, "new": new, "lines": lines}
    return render(request, "rollbacks/diff.html", context)


@require_POST
def config_schema_edit(request, slug):
    system = get_object_or_404(AISystem, slug=slug)
    require(request.user, "system.edit", system)
    try:
        schema = json.loads(request.POST.get("schema", ""))
        services.config_schema_set(actor=request.user, system=system, schema=schema)
    except json.JSONDecodeError as error:
        messages.error(request, f"The schema is not JSON: {error.msg}.")
    except InvalidVersion as invalid:
        messages.error(request, str(invalid))
    else:
        messages.success(request, "Schema saved: new configuration versions must satisfy it.")
    return redirect(f"/systems/{slug}/versions/#surface-config")


@require_POST
@role_required("version.deploy")
def change_decide(request, slug, pk):
    change = get_object_or_404(ChangeRequest, system__slug=slug, pk=pk)
    approve = request.POST.get("decision") == "approve"
    try:
        services.change_decide(
            actor=request.user,
            request=change,
            approve=approve,
            reason=request.POST.get("reason", ""),
        )
    except services.DeploymentRefused as refused:
        messages.error(request, str(refused))
    else:
        messages.success(
            request, f"{change.version.reference}: {'approved' if approve else 'rejected'}."
        )
    return redirect("rollbacks:versions", slug=slug)


@role_required("system.view")
def change_timeline(request, slug):
    system = get_object_or_404(AISystem, slug=slug)
    context = {"system": system, "changes": system_changes([system])}
    return render(request, "rollbacks/changes.html", context)
