from django.contrib import messages
from django.core.paginator import Paginator
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_POST

from core.forms import add_service_error
from core.permissions import role_required
from core.roles import can
from incidents import severity
from incidents.errors import IncidentError
from incidents.forms import (
    ActionItemForm,
    DeclareForm,
    IncidentFilterForm,
    PostmortemForm,
)
from incidents.models import ActionItem, Incident, Postmortem
from incidents.selectors import (
    incident_get,
    incident_list,
    open_counts_by_severity,
)
from incidents.services import incident as incident_services
from incidents.services import postmortems
from systems.models import AISystem

PAGE_SIZE = 50


@role_required("incident.view")
def incident_index(request):
    # Responders come here for what is burning: open incidents unless they ask otherwise.
    filters = IncidentFilterForm(request.GET or {"status": "open"})
    criteria = filters.cleaned_data if filters.is_valid() else {}
    incidents = incident_list(**{k: v for k, v in criteria.items() if v})
    page = Paginator(incidents, PAGE_SIZE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    context = {
        "filters": filters,
        "page": page,
        "incidents": page.object_list,
        "query": query.urlencode(),
        "counts": open_counts_by_severity(),
    }
    template = "incidents/_table.html" if request.htmx else "incidents/list.html"
    return render(request, template, context)


@role_required("incident.view")
def severity_scale(request):
    rows = [
        (
            harm,
            severity.HARM_MEANING[harm],
            severity.assess(harm, True),
            severity.assess(harm, False),
        )
        for harm in severity.Harm
    ]
    responses = [(s, severity.response_for(s)) for s in severity.Severity]
    return render(request, "incidents/severity.html", {"rows": rows, "responses": responses})


def prefilled_irreversible(systems, fired: bool | None = None) -> str:
    """The triage answer to offer: what the incident's events say (`fired`, when the caller
    knows), else what the systems' catalogs could fire."""
    if fired is None:
        fired = any(s.has_irreversible_actions for s in systems)
    return "yes" if fired else "no"


def may_override(user, incident=None) -> bool:
    return can(user, "incident.override", incident or Incident())


@role_required("incident.declare")
def incident_declare(request):
    overridable = may_override(request.user)
    if request.method == "POST":
        form = DeclareForm(request.POST, may_override=overridable)
        if form.is_valid():
            try:
                incident = incident_services.incident_declare(
                    actor=request.user, **form.declaration()
                )
            except IncidentError as error:
                add_service_error(form, error)
            else:
                return redirect(incident)
        status = 400
    else:
        chosen = AISystem.objects.filter(slug__in=request.GET.getlist("system"))
        form = DeclareForm(
            may_override=overridable,
            initial={
                "systems": chosen,
                "irreversible_actions": prefilled_irreversible(
                    chosen.prefetch_related("action_types")
                ),
            },
        )
        status = 200
    return render(request, "incidents/declare.html", {"form": form}, status=status)


@require_GET
@role_required("incident.view")
def severity_preview(request):
    """What the scale gives for the answers so far: the form shows it as they are chosen."""
    systems = AISystem.objects.filter(pk__in=request.GET.getlist("systems")).prefetch_related(
        "action_types"
    )
    harm = request.GET.get("harm", "")
    answered = request.GET.get("irreversible_actions", "")
    irreversible = answered == "yes" if answered else prefilled_irreversible(systems) == "yes"
    assessment = severity.assess(harm, irreversible) if harm in severity.Harm.values else None
    context = {"assessment": assessment, "irreversible": irreversible, "systems": systems}
    return render(request, "incidents/_assessment.html", context)


# --- Postmortem and action items ------------------------------------------------------------


def _postmortem_page(request, incident, *, form=None, item_form=None, status=200):
    postmortem = get_object_or_404(Postmortem, incident=incident)
    context = {
        "incident": incident,
        "postmortem": postmortem,
        "facts": postmortem.facts,
        "form": form or PostmortemForm(instance=postmortem),
        "item_form": item_form or ActionItemForm(),
        "items": postmortem.action_items.select_related("owner"),
        "may_write": can(request.user, "postmortem.write", incident),
    }
    return render(request, "incidents/postmortem.html", context, status=status)


def _postmortem_saved(request, incident, form, form_name: str, save, done: str):
    """A postmortem form posted: saved by `save` and back to the page, or the page again
    with the form and its errors (400)."""
    if form.is_valid():
        try:
            save(**form.cleaned_data)
        except IncidentError as error:
            add_service_error(form, error)
        else:
            messages.success(request, done)
            return redirect("incidents:postmortem", number=incident.number)
    return _postmortem_page(request, incident, **{form_name: form}, status=400)


@role_required("incident.view")
def postmortem_page(request, number):
    incident = incident_get(number)
    if request.method != "POST":
        return _postmortem_page(request, incident)
    postmortem = get_object_or_404(Postmortem, incident=incident)
    form = PostmortemForm(request.POST, instance=Postmortem.objects.get(pk=postmortem.pk))

    def save(**sections):
        postmortems.postmortem_edit(actor=request.user, postmortem=postmortem, **sections)

    return _postmortem_saved(request, incident, form, "form", save, "Postmortem saved.")


@require_POST
@role_required("incident.view")
def action_item_add(request, number):
    incident = incident_get(number)
    postmortem = get_object_or_404(Postmortem, incident=incident)

    def save(**fields):
        postmortems.action_item_add(actor=request.user, postmortem=postmortem, **fields)

    form = ActionItemForm(request.POST)
    return _postmortem_saved(request, incident, form, "item_form", save, "Action item added.")


@require_POST
@role_required("incident.view")
def action_item_status(request, pk):
    item = get_object_or_404(ActionItem.objects.select_related("postmortem__incident"), pk=pk)
    try:
        postmortems.action_item_status(
            actor=request.user, item=item, status=request.POST.get("status", "")
        )
    except IncidentError as error:
        return HttpResponse(str(error), status=400)
    back = request.POST.get("next", "")
    # Only back to a page of ours: never an open redirect.
    if url_has_allowed_host_and_scheme(back, allowed_hosts={request.get_host()}):
        return redirect(back)
    return redirect("incidents:action-items")


@role_required("incident.view")
def action_items_page(request):
    """Every open action item, overdue first: the follow-through after the postmortems."""
    items = (
        ActionItem.objects.filter(status=ActionItem.Status.OPEN)
        .select_related("owner", "postmortem__incident")
        .order_by("due", "id")
    )
    if request.GET.get("owner") == "me":
        items = items.filter(owner=request.user)
    today = timezone.localdate()
    return render(
        request,
        "incidents/action_items.html",
        {"items": items[:500], "today": today, "mine": request.GET.get("owner") == "me"},
    )
