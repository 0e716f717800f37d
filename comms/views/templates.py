"""A system's communication templates: the wording new drafts for it start from."""

from django.contrib import messages
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from comms import wording
from comms.errors import CommunicationRefused
from comms.forms import CommTemplateForm, errors_text
from comms.models import CommTemplate
from comms.services import templates
from core.forms import add_service_error
from core.permissions import require, role_required
from systems.models import AISystem


def _template_initial() -> dict:
    return {"name": "Wrong decisions", **wording.DEFAULT}


@role_required("system.view")
def comm_templates(request, slug):
    """A system's templates, and a form to add one (prefilled with the default wording)."""
    system = get_object_or_404(AISystem, slug=slug)
    form = CommTemplateForm(request.POST or None, initial=_template_initial())
    if request.method == "POST":
        require(request.user, "comms.template", system)
        if form.is_valid():
            try:
                templates.comm_template_save(actor=request.user, system=system, **form.cleaned_data)
            except CommunicationRefused as refused:
                add_service_error(form, refused)
            else:
                messages.success(
                    request, "Template saved: new drafts for this system start from it."
                )
                return redirect("comm-templates:list", slug=slug)
    context = {
        "system": system,
        "templates": [
            (t, CommTemplateForm(initial={"name": t.name, **t.parts}, prefix=f"t{t.pk}"))
            for t in system.comm_templates.select_related("updated_by")
        ],
        "form": form,
        "placeholders": wording.PLACEHOLDERS,
    }
    return render(request, "comms/templates.html", context, status=422 if form.errors else 200)


@require_POST
def comm_template_edit(request, slug, pk):
    system = get_object_or_404(AISystem, slug=slug)
    template = get_object_or_404(CommTemplate, system=system, pk=pk)
    require(request.user, "comms.template", system)
    form = CommTemplateForm(request.POST, prefix=f"t{template.pk}")
    if not form.is_valid():
        messages.error(request, "Not saved: " + errors_text(form))
    else:
        try:
            templates.comm_template_save(
                actor=request.user, system=system, template=template, **form.cleaned_data
            )
        except CommunicationRefused as refused:
            messages.error(request, f"Not saved: {refused.message}")
        else:
            messages.success(request, f"Template “{template.name}” saved.")
    return redirect("comm-templates:list", slug=slug)


@require_POST
def comm_template_remove(request, slug, pk):
    system = get_object_or_404(AISystem, slug=slug)
    template = get_object_or_404(CommTemplate, system=system, pk=pk)
    require(request.user, "comms.template", system)
    name = template.name
    templates.comm_template_remove(actor=request.user, template=template)
    messages.success(request, f"Template “{name}” removed.")
    return redirect("comm-templates:list", slug=slug)
