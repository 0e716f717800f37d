"""The incident page: the response panel (severity, containment steps with each system's
mode, status, people, the status update), the evidence from monitoring, the communication
panel, the timeline and the room. It composes incidents, systems, rollbacks, monitoring and
comms, so it lives in the top layer; every action here calls the owning app's service."""

from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from comms.selectors import latest_status_update, room_people
from comms.services.status_updates import status_update_post
from comms.views.communications import communication_panel
from core.errors import ServiceError
from core.forms import add_service_error
from core.permissions import require, role_required
from groundtruth.selectors import incident_reviews
from incidents import lifecycle, severity
from incidents.containment import containment_steps
from incidents.forms import ClassifyForm, MessageForm, PeopleForm, StatusForm, StatusUpdateForm
from incidents.selectors import incident_for_change, incident_get, timeline_page
from incidents.services import incident as incident_services
from incidents.services import timeline
from incidents.views import may_override, prefilled_irreversible
from monitoring.selectors.incident import irreversible_fired
from monitoring.views import incident_detection
from response.blast_radius import blast_radius
from rollbacks.selectors import changes_before
from systems.views import mode_status


def _containment(incident):
    """The steps for the severity, each with the mode control it calls for, and each
    system's mode with how far its latest mode change has reached."""
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


def response_context(request, incident, **extra):
    """What the response panel shows (`_response.html`): rendered on the page, and again
    alone after an action or when the room says something changed."""
    steps, modes = _containment(incident)
    context = {
        "incident": incident,
        "steps": steps,
        "modes": modes,
        "moves": lifecycle.moves_from(incident.status),
        "classify_form": ClassifyForm(
            may_override=may_override(request.user, incident),
            initial={
                "harm": incident.harm,
                "irreversible_actions": (
                    ("yes" if incident.irreversible_actions else "no")
                    if incident.harm
                    else prefilled_irreversible(
                        incident.systems.all(), irreversible_fired(incident)
                    )
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
    now = timezone.now()
    radius = blast_radius(incident, now)
    return response_context(
        request,
        incident,
        **incident_detection(incident, now),
        reviews=incident_reviews(incident, now),
        radius=radius,
        **communication_panel(incident, radius=radius),
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
    return render(request, "incidents/_response.html", response_context(request, incident))


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
        response_context(request, incident, **extra),
        status=status,
    )


def _act(request, number, action, make_form, form_name, call):
    """The shape of every incident action: load, check the role, validate, call, answer."""
    incident = incident_for_change(number)
    require(request.user, action, incident)
    form = make_form(request.POST, incident)
    if not form.is_valid():
        return _respond(request, incident, error=form_error(form), form_name=form_name, form=form)
    try:
        call(incident, form)
    except ServiceError as error:
        add_service_error(form, error)
        return _respond(request, incident, error=error.message, form_name=form_name, form=form)
    return _respond(request, incident)


def form_error(form) -> str:
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
            data, may_override=may_override(request.user, incident)
        ),
        "classify_form",
        lambda incident, form: incident_services.incident_classify(
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
        lambda incident, form: incident_services.incident_status_change(
            actor=request.user, incident=incident, **form.cleaned_data
        ),
    )


@require_POST
def incident_people(request, number):
    def change(incident, form):
        person = form.cleaned_data["person"]
        incident_services.incident_people_change(
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
        return HttpResponse(form_error(form), status=422, content_type="text/plain")
    try:
        entry = timeline.incident_message_post(
            actor=request.user, incident=incident, text=form.cleaned_data["text"]
        )
    except ServiceError as error:
        return HttpResponse(error.message, status=422, content_type="text/plain")
    if not request.htmx:
        return redirect(incident)
    return render(request, "incidents/_entry.html", {"entry": entry})


@require_POST
def incident_join(request, number):
    incident = incident_for_change(number)
    timeline.incident_join(actor=request.user, incident=incident)
    return _respond(request, incident)
