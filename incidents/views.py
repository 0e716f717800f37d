from django.contrib import messages
from django.core.paginator import Paginator
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_POST

from comms.selectors import latest_status_update, room_people
from comms.services import status_update_post
from comms.views import communication_panel
from core.permissions import require, role_required
from core.roles import can
from incidents import lifecycle, services, severity
from incidents.containment import containment_steps
from incidents.forms import (
    ActionItemForm,
    ClassifyForm,
    DeclareForm,
    IncidentFilterForm,
    MessageForm,
    PeopleForm,
    PostmortemForm,
    StatusForm,
    StatusUpdateForm,
)
from incidents.models import ActionItem, Incident, Postmortem
from incidents.readiness import readiness_of
from incidents.selectors import (
    incident_for_change,
    incident_get,
    incident_list,
    open_counts_by_severity,
    timeline_page,
)
from monitoring.selectors import irreversible_fired
from monitoring.views import incident_detection
from rollbacks.selectors import changes_before
from systems.models import AISystem
from systems.selectors import system_list_for_readiness
from systems.views import mode_status

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


def _prefilled_irreversible(systems, incident=None) -> str:
    """From the blast radius when events say; else from what the catalogs could fire."""
    fired = irreversible_fired(incident) if incident is not None else None
    if fired is None:
        fired = any(s.has_irreversible_actions for s in systems)
    return "yes" if fired else "no"


def _may_override(user, incident=None) -> bool:
    return can(user, "incident.override", incident or Incident())


@role_required("incident.declare")
def incident_declare(request):
    may_override = _may_override(request.user)
    if request.method == "POST":
        form = DeclareForm(request.POST, may_override=may_override)
        if form.is_valid():
            try:
                incident = services.incident_declare(actor=request.user, **form.declaration())
            except services.IncidentError as error:
                form.add_error(error.field if error.field in form.fields else None, str(error))
            else:
                return redirect(incident)
        status = 400
    else:
        chosen = AISystem.objects.filter(slug__in=request.GET.getlist("system"))
        form = DeclareForm(
            may_override=may_override,
            initial={
                "systems": chosen,
                "irreversible_actions": _prefilled_irreversible(
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
    irreversible = answered == "yes" if answered else _prefilled_irreversible(systems) == "yes"
    assessment = severity.assess(harm, irreversible) if harm in severity.Harm.values else None
    context = {"assessment": assessment, "irreversible": irreversible, "systems": systems}
    return render(request, "incidents/_assessment.html", context)


def _containment(incident):
    """The steps for the severity, each with the mode control it calls for, and each
    system's mode with how far its latest flip has reached."""
    systems = list(incident.systems.all())
    modes = {}
    for system in systems:
        status = mode_status(system)
        status["choices"] = {c["mode"]: c for c in status["choices"]}
        modes[system.slug] = status
    steps = [
        {
            "step": step,
            "choice": modes[step.system.slug]["choices"][step.mode] if step.mode else None,
        }
        for step in containment_steps(incident.severity, systems)
    ]
    return steps, list(modes.values())


def _response_context(request, incident, **extra):
    """What the response panel shows (`_response.html`): rendered on the page, and again
    alone after an action or when the room says something changed."""
    steps, modes = _containment(incident)
    context = {
        "incident": incident,
        "steps": steps,
        "modes": modes,
        "moves": lifecycle.moves_from(incident.status),
        "classify_form": ClassifyForm(
            may_override=_may_override(request.user, incident),
            initial={
                "harm": incident.harm,
                "irreversible_actions": (
                    ("yes" if incident.irreversible_actions else "no")
                    if incident.harm
                    else _prefilled_irreversible(incident.systems.all(), incident)
                ),
            },
        ),
        "assessment": (
            severity.assess(incident.harm, incident.irreversible_actions) if incident.harm else None
        ),
        "response": severity.response_for(incident.severity) if incident.severity else "",
        "people_form": PeopleForm(),
        "update_form": StatusUpdateForm(),
        "last_update": latest_status_update(incident),
        "changes_before": changes_before(incident),
    }
    context.update(extra)
    return context


def _page_context(request, incident):
    """The whole page: the response panel, plus the timeline and the room."""
    entries, more = timeline_page(incident)
    detection = incident_detection(incident)
    return _response_context(
        request,
        incident,
        **detection,
        **communication_panel(incident, radius=detection["radius"]),
        entries=entries,
        earlier=entries[0].pk if more and entries else None,
        message_form=MessageForm(),
        present=room_people(incident.pk),
    )


@role_required("incident.view")
def incident_detail(request, number):
    incident = incident_get(number)
    return render(request, "incidents/detail.html", _page_context(request, incident))


@role_required("incident.view")
def incident_summary(request, number):
    """The response panel alone: the room asks for it after a change others made."""
    incident = incident_get(number)
    return render(request, "incidents/_response.html", _response_context(request, incident))


@role_required("incident.view")
def incident_timeline(request, number):
    """Earlier timeline entries, for "show earlier" (the page shows the latest first)."""
    incident = incident_get(number)
    try:
        before = int(request.GET.get("before", ""))
    except ValueError:
        return HttpResponse("before must be an entry id", status=400)
    entries, more = timeline_page(incident, before=before)
    context = {"incident": incident, "entries": entries, "earlier": entries[0].pk if more else None}
    return render(request, "incidents/_timeline_earlier.html", context)


def _respond(request, incident, *, error=None, form_name=None, form=None):
    """After an action: htmx gets the response panel (with the error beside its form);
    a plain form post goes back to the page."""
    if not request.htmx:
        if error:
            messages.error(request, error)
        return redirect(incident)
    incident = incident_get(incident.number)
    extra = {"error": error}
    if form_name and form is not None:
        extra[form_name] = form
    status = 422 if error else 200
    return render(
        request,
        "incidents/_response.html",
        _response_context(request, incident, **extra),
        status=status,
    )


def _act(request, number, action, make_form, form_name, call):
    """The shape of every incident action: load, check the role, validate, call, answer."""
    incident = incident_for_change(number)
    require(request.user, action, incident)
    form = make_form(request.POST, incident)
    if not form.is_valid():
        return _respond(request, incident, error=_form_error(form), form_name=form_name, form=form)
    try:
        call(incident, form)
    except services.IncidentError as error:
        if error.field in form.fields:
            form.add_error(error.field, str(error))
        return _respond(request, incident, error=str(error), form_name=form_name, form=form)
    return _respond(request, incident)


def _form_error(form) -> str:
    return "; ".join(
        f"{form.fields[f].label or f}: {' '.join(errors)}" if f in form.fields else " ".join(errors)
        for f, errors in form.errors.items()
    )


@require_POST
def incident_classify(request, number):
    return _act(
        request,
        number,
        "incident.triage",
        lambda data, incident: ClassifyForm(
            data, may_override=_may_override(request.user, incident)
        ),
        "classify_form",
        lambda incident, form: services.incident_classify(
            actor=request.user, incident=incident, **form.triage()
        ),
    )


@require_POST
def incident_status(request, number):
    return _act(
        request,
        number,
        "incident.status",
        lambda data, _: StatusForm(data),
        "status_form",
        lambda incident, form: services.incident_status_change(
            actor=request.user, incident=incident, **form.cleaned_data
        ),
    )


@require_POST
def incident_people(request, number):
    def change(incident, form):
        person = form.cleaned_data["person"]
        services.incident_people_change(
            actor=request.user, incident=incident, **{form.cleaned_data["role"]: person}
        )

    # The service decides who may: the lead, an incident lead, or a responder taking an
    # empty lead for themselves.
    return _act(
        request, number, "incident.view", lambda data, _: PeopleForm(data), "people_form", change
    )


@require_POST
def incident_update(request, number):
    return _act(
        request,
        number,
        "incident.update",
        lambda data, _: StatusUpdateForm(data),
        "update_form",
        lambda incident, form: status_update_post(
            actor=request.user,
            incident=incident,
            known=form.cleaned_data["known"],
            doing=form.cleaned_data["doing"],
            next_update_at=form.cleaned_data["next_update_at"],
        ),
    )


@require_POST
def incident_message(request, number):
    """Post in the room. htmx gets the entry back (the room's socket brings it too; the
    page shows it once); a plain post goes back to the page."""
    incident = incident_for_change(number)
    require(request.user, "incident.message", incident)
    form = MessageForm(request.POST)
    if not form.is_valid():
        return HttpResponse(_form_error(form), status=422, content_type="text/plain")
    try:
        entry = services.incident_message_post(
            actor=request.user, incident=incident, text=form.cleaned_data["text"]
        )
    except services.IncidentError as error:
        return HttpResponse(str(error), status=422, content_type="text/plain")
    if not request.htmx:
        return redirect(incident)
    return render(request, "incidents/_entry.html", {"entry": entry})


@require_POST
def incident_join(request, number):
    incident = incident_for_change(number)
    services.incident_join(actor=request.user, incident=incident)
    return _respond(request, incident)


@role_required("system.view")
def readiness(request):
    rows = [(system, readiness_of(system)) for system in system_list_for_readiness()]
    return render(request, "incidents/readiness.html", {"rows": rows})


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
        except services.IncidentError as error:
            form.add_error(error.field, str(error))
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
        services.postmortem_edit(actor=request.user, postmortem=postmortem, **sections)

    return _postmortem_saved(request, incident, form, "form", save, "Postmortem saved.")


@require_POST
@role_required("incident.view")
def action_item_add(request, number):
    incident = incident_get(number)
    postmortem = get_object_or_404(Postmortem, incident=incident)

    def save(**fields):
        services.action_item_add(actor=request.user, postmortem=postmortem, **fields)

    form = ActionItemForm(request.POST)
    return _postmortem_saved(request, incident, form, "item_form", save, "Action item added.")


@require_POST
@role_required("incident.view")
def action_item_status(request, pk):
    item = get_object_or_404(ActionItem.objects.select_related("postmortem__incident"), pk=pk)
    try:
        services.action_item_status(
            actor=request.user, item=item, status=request.POST.get("status", "")
        )
    except services.IncidentError as error:
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
