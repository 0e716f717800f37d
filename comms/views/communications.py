"""An incident's external communication: draft, check, approve and publish it, decide on
what it owes, and export the per-subject notices. The incident page shows
`communication_panel`."""

import csv
import io

from django.contrib import messages
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_POST

from comms import jargon, selectors, wording
from comms.errors import CommunicationRefused
from comms.forms import CommunicationForm, DecisionForm, errors_text
from comms.models import Communication
from comms.services import communications
from core.forms import add_service_error
from core.permissions import require, role_required
from incidents.selectors import incident_for_change, incident_get
from monitoring.selectors.incident import blast_radius


def communication_panel(incident, *, radius=None) -> dict:
    """The incident page's obligation card (`comms/_obligation.html`): what is owed, what
    met it, and where the draft stands. `radius`: the blast radius, when already read."""
    draft = selectors.draft_of(incident)
    versions = list(draft.versions.all()) if draft else []
    published = selectors.published_for(incident)
    return {
        "comm_obligation": selectors.obligation_for(incident, radius=radius),
        "comm_latest": versions[0] if versions else None,
        "comm_published": published[0] if published else None,
    }


def _back(request, incident) -> str:
    back = request.POST.get("next", "")
    if back and url_has_allowed_host_and_scheme(back, allowed_hosts={request.get_host()}):
        return back
    return incident.get_absolute_url()


def _chosen_source(request, templates) -> tuple[str, dict | None]:
    """The wording a person asked to start from: `?template=default` or a template's id."""
    chosen = request.GET.get("template", "")
    if chosen == "default":
        return chosen, wording.DEFAULT
    for template in templates:
        if str(template.pk) == chosen:
            return chosen, template.parts
    return "", None


def _communication_context(request, incident, *, form=None) -> dict:
    radius = blast_radius(incident)
    draft = selectors.draft_of(incident)
    versions = list(draft.versions.all()) if draft else []
    latest = versions[0] if versions else None
    templates = selectors.comm_templates_for(incident)
    chosen, source = _chosen_source(request, templates)
    if form is None:
        if latest is None or source is not None:
            initial = selectors.prefill(incident, source=source, radius=radius)
        else:
            initial = latest.parts
        form = CommunicationForm(initial={**initial, "based_on": latest.number if latest else None})
    parts = form.parts()
    return {
        "incident": incident,
        **communication_panel(incident, radius=radius),
        "radius": radius,
        "draft": draft,
        "versions": versions,
        "latest": latest,
        "latest_approval": next(iter(latest.approvals.all()), None) if latest else None,
        "earlier_approved": any(v.approvals.all() for v in versions[1:]),
        "form": form,
        "findings": jargon.check(parts),
        "preview": parts,
        "published": selectors.published_for(incident),
        "templates": templates,
        "chosen": chosen,
        "decision_form": DecisionForm(),
    }


@role_required("incident.view")
def communication_page(request, number):
    """Draft, check, approve and publish the incident's external communication."""
    incident = incident_get(number)
    context = _communication_context(request, incident)
    return render(request, "comms/communication.html", context)


@role_required("incident.view")
@require_GET
def obligation_panel(request, number):
    """The obligation card alone: the incident page reloads it when the room says the
    severity, the status or the communication changed."""
    incident = incident_get(number)
    context = {"incident": incident, **communication_panel(incident)}
    return render(request, "comms/_obligation.html", context)


@require_POST
def obligation_decide(request, number):
    """The lead waives a SEV1's communication, or records a SEV2's decision."""
    incident = incident_for_change(number)
    require(request.user, "comms.waive", incident)
    form = DecisionForm(request.POST)
    error = ""
    if not form.is_valid():
        error = errors_text(form)
    else:
        try:
            communications.obligation_decide(
                actor=request.user, incident=incident, **form.cleaned_data
            )
        except CommunicationRefused as refused:
            error = refused.message
    if request.htmx:
        incident = incident_get(number)
        context = {"incident": incident, **communication_panel(incident), "comm_error": error}
        if error:
            context["decision_form"] = form
        return render(request, "comms/_obligation.html", context, status=422 if error else 200)
    if error:
        messages.error(request, error)
    else:
        messages.success(request, "Decision recorded.")
    return redirect(_back(request, incident))


@require_POST
def communication_save(request, number):
    incident = incident_get(number)
    require(request.user, "comms.draft", incident)
    form = CommunicationForm(request.POST)
    if form.is_valid():
        data = form.cleaned_data
        try:
            version = communications.communication_save(
                actor=request.user,
                incident=incident,
                parts={name: data[name] for name in wording.PART_NAMES},
                based_on=data["based_on"],
            )
        except CommunicationRefused as refused:
            if refused.field == "based_on":
                # Their words stay; the next save builds on the version they now see.
                latest = selectors.draft_of(incident)
                fresh = request.POST.copy()
                fresh["based_on"] = (
                    latest.versions.all()[0].number if latest and latest.versions.all() else ""
                )
                form = CommunicationForm(fresh)
                form.is_valid()
                # Above the form: the hidden `based_on` shows no errors of its own.
                form.add_error(None, refused.message)
            else:
                add_service_error(form, refused)
        else:
            messages.success(
                request,
                f"Version {version.number} saved. The lead approves it before it is published.",
            )
            return redirect("communications:page", number=number)
    context = _communication_context(request, incident, form=form)
    return render(request, "comms/communication.html", context, status=422)


@require_POST
def communication_check(request, number):
    """The jargon check and the preview for the words as they stand: htmx swaps them in
    beside the draft as the person types."""
    incident = incident_for_change(number)
    require(request.user, "comms.draft", incident)
    parts = CommunicationForm(request.POST).parts()
    context = {"findings": jargon.check(parts), "preview": parts}
    return render(request, "comms/_check.html", context)


def _version_action(request, number, action, call, done: str):
    incident = incident_for_change(number)
    require(request.user, action, incident)
    try:
        version = int(request.POST.get("version", ""))
    except ValueError:
        messages.error(request, "Say which version.")
    else:
        try:
            call(actor=request.user, incident=incident, version_number=version)
        except CommunicationRefused as refused:
            messages.error(request, refused.message)
        else:
            messages.success(request, done.format(version=version))
    return redirect("communications:page", number=number)


@require_POST
def communication_approve(request, number):
    return _version_action(
        request,
        number,
        "comms.approve",
        communications.communication_approve,
        "Version {version} approved. It can be published now.",
    )


@require_POST
def communication_publish(request, number):
    return _version_action(
        request,
        number,
        "comms.publish",
        communications.communication_publish,
        "Version {version} published on the status page.",
    )


NOTICE_COLUMNS = [
    "subject",
    "systems",
    "first_affected",
    "last_affected",
    "outputs",
    "actions",
    "saw_an_action",
    "message",
]


def _cell(value) -> str:
    """Subjects and messages are untrusted: a spreadsheet must not run them as formulas."""
    text = value.isoformat() if hasattr(value, "isoformat") else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


@role_required("incident.view")
@require_GET
def notices_export(request, number):
    """CSV for targeted notification: one row per affected subject, with the published
    message. `?update=<n>` picks the communication; the latest published by default."""
    incident = incident_for_change(number)
    require(request.user, "comms.publish", incident)
    published = Communication.objects.filter(
        incident=incident, published_at__isnull=False
    ).select_related("published_version", "incident")
    wanted = request.GET.get("update", "")
    if wanted:
        if not wanted.isdigit():
            return HttpResponse("update must be a number", status=400, content_type="text/plain")
        published = published.filter(number=int(wanted))
    communication = published.order_by("-published_at").first()
    if communication is None:
        raise Http404("Nothing published yet: the notices carry the published message.")
    message = communication.published_version.as_text()
    rows = selectors.notices(communication)
    communications.notices_exported(
        actor=request.user, communication=communication, subjects=len(rows)
    )
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(NOTICE_COLUMNS)
    for row in rows:
        writer.writerow(
            _cell(value)
            for value in (
                row["subject"],
                " ".join(row["systems"]),
                row["first_at"],
                row["last_at"],
                row["outputs"],
                wording.counted(row["actions"]),
                "yes" if row["saw_an_action"] else "no",
                message,
            )
        )
    response = HttpResponse(buffer.getvalue(), content_type="text/csv")
    response["Content-Disposition"] = (
        f'attachment; filename="{incident.reference}-update-{communication.number}-notices.csv"'
    )
    response["Cache-Control"] = "no-store"  # a list of the people affected
    return response
