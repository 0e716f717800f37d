import csv
import io

from django.contrib import messages
from django.contrib.auth.decorators import login_not_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.feedgenerator import Atom1Feed
from django.utils.html import linebreaks
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_POST
from django_htmx.http import HttpResponseClientRedirect

from comms import jargon, selectors, services, webhooks, wording
from comms.forms import CommTemplateForm, CommunicationForm, DecisionForm, WebhookForm
from comms.models import CommTemplate, Communication, Webhook, WebhookDelivery
from core.permissions import require, role_required
from core.selectors import audit_entries_for
from incidents.selectors import incident_for_change, incident_get
from monitoring.selectors import blast_radius
from systems.models import AISystem


@login_not_required
@require_GET
def status_page(request):
    """The public status page: published communications, and nothing else. No incident's
    internal title, reference or unpublished words ever reach it."""
    return render(request, "comms/status.html", {"incidents": selectors.status_incidents()})


# --- Outgoing webhooks: admins only ----------------------------------------------------


def _no_store(response):
    # These pages show each webhook's signing secret.
    response["Cache-Control"] = "no-store"
    return response


def _initial(webhook: Webhook) -> dict:
    return {f: getattr(webhook, f) for f in ("name", "url", "events", "active")}


@role_required("webhook.manage")
def webhook_index(request):
    form = WebhookForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            webhook = webhooks.webhook_create(actor=request.user, **form.cleaned_data)
        except ValidationError as error:
            form.add_error(None, error)  # the service's errors, on the fields it names
        else:
            messages.success(
                request, f"Webhook “{webhook.name}” added. Send it a test to check it."
            )
            return redirect("webhooks:detail", pk=webhook.pk)
    status = 422 if form.errors else 200
    context = {"webhooks": webhooks.webhook_list(), "form": form}
    return _no_store(render(request, "comms/webhook_list.html", context, status=status))


@role_required("webhook.manage")
def webhook_detail(request, pk):
    webhook = get_object_or_404(Webhook, pk=pk)
    form = WebhookForm(request.POST or None, initial=_initial(webhook), editing=True)
    if request.method == "POST" and form.is_valid():
        try:
            webhooks.webhook_update(actor=request.user, webhook=webhook, **form.cleaned_data)
        except ValidationError as error:
            form.add_error(None, error)
        else:
            messages.success(request, "Saved.")
            return redirect("webhooks:detail", pk=webhook.pk)
    context = {
        **_log_context(webhook),
        "form": form,
        "history": audit_entries_for(webhook, limit=30),
    }
    status = 422 if form.errors else 200
    return _no_store(render(request, "comms/webhook_detail.html", context, status=status))


def _log_context(webhook: Webhook) -> dict:
    deliveries = webhooks.webhook_deliveries(webhook)
    return {
        "webhook": webhook,
        "deliveries": deliveries,
        # The fragment refreshes itself while any of these may still change.
        "pending": any(d.state == WebhookDelivery.State.PENDING for d in deliveries),
    }


def _delivery_log(request, webhook, problem: str = "", status: int = 200):
    context = {**_log_context(webhook), "problem": problem}
    return render(request, "comms/_deliveries.html", context, status=status)


@role_required("webhook.manage")
@require_GET
def webhook_delivery_log(request, pk):
    """The delivery log alone: htmx refreshes it while deliveries are pending."""
    return _delivery_log(request, get_object_or_404(Webhook, pk=pk))


@role_required("webhook.manage")
@require_POST
def webhook_send_test(request, pk):
    """htmx swaps the delivery log in place; a plain form post goes back to the page."""
    webhook = get_object_or_404(Webhook, pk=pk)
    try:
        webhooks.webhook_send_test(actor=request.user, webhook=webhook)
    except ValidationError as error:
        problem = " ".join(error.messages)
        if request.htmx:
            return _delivery_log(request, webhook, problem, status=422)
        messages.error(request, problem)
    else:
        if request.htmx:
            return _delivery_log(request, webhook)
        messages.success(request, "Test queued: its outcome shows in the delivery log.")
    return redirect("webhooks:detail", pk=webhook.pk)


@role_required("webhook.manage")
@require_POST
def webhook_remove(request, pk):
    webhook = get_object_or_404(Webhook, pk=pk)
    name = webhook.name
    webhooks.webhook_remove(actor=request.user, webhook=webhook)
    messages.success(request, f"Webhook “{name}” removed. Nothing more is sent to it.")
    if request.htmx:  # hx-confirm asked first; the browser goes to the list
        return HttpResponseClientRedirect(reverse("webhooks:list"))
    return redirect("webhooks:list")


# --- The public status page and its feed -----------------------------------------------------


@login_not_required
@require_GET
def status_feed(request):
    """Atom: each published communication, newest first. Text only, escaped for readers
    that render the summary as HTML."""
    home = request.build_absolute_uri(reverse("comms:status"))
    feed = Atom1Feed(
        title="Service status",
        link=home,
        description="Published updates about incidents",
        feed_url=request.build_absolute_uri(),
        language="en",
    )
    for communication in selectors.feed_updates():
        version = communication.published_version
        feed.add_item(
            title=version.headline,
            link=f"{home}#update-{communication.code}",
            description=linebreaks(version.as_text(), autoescape=True),
            unique_id=f"urn:uuid:{communication.code}",
            unique_id_is_permalink=False,
            pubdate=communication.published_at,
            updateddate=communication.published_at,
        )
    response = HttpResponse(content_type=feed.content_type)
    feed.write(response, "utf-8")
    return response


# --- An incident's external communication -----------------------------------------------------


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


def _form_error(form) -> str:
    return "; ".join(
        f"{form.fields[f].label or f}: {' '.join(errors)}" if f in form.fields else " ".join(errors)
        for f, errors in form.errors.items()
    )


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
        error = _form_error(form)
    else:
        try:
            services.obligation_decide(actor=request.user, incident=incident, **form.cleaned_data)
        except services.CommunicationRefused as refused:
            error = str(refused)
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
            version = services.communication_save(
                actor=request.user,
                incident=incident,
                parts={name: data[name] for name in wording.PART_NAMES},
                based_on=data["based_on"],
            )
        except services.CommunicationRefused as refused:
            if refused.field == "based_on":
                # Their words stay; the next save builds on the version they now see.
                latest = selectors.draft_of(incident)
                fresh = request.POST.copy()
                fresh["based_on"] = (
                    latest.versions.all()[0].number if latest and latest.versions.all() else ""
                )
                form = CommunicationForm(fresh)
                form.is_valid()
            field = refused.field if refused.field in wording.PART_NAMES else None
            form.add_error(field, str(refused))
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
        except services.CommunicationRefused as refused:
            messages.error(request, str(refused))
        else:
            messages.success(request, done.format(version=version))
    return redirect("communications:page", number=number)


@require_POST
def communication_approve(request, number):
    return _version_action(
        request,
        number,
        "comms.approve",
        services.communication_approve,
        "Version {version} approved. It can be published now.",
    )


@require_POST
def communication_publish(request, number):
    return _version_action(
        request,
        number,
        "comms.publish",
        services.communication_publish,
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
    services.notices_exported(actor=request.user, communication=communication, subjects=len(rows))
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


# --- A system's communication templates --------------------------------------------------------


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
                services.comm_template_save(actor=request.user, system=system, **form.cleaned_data)
            except services.CommunicationRefused as refused:
                form.add_error(
                    refused.field if refused.field in form.fields else None, str(refused)
                )
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
        messages.error(request, "Not saved: " + _form_error(form))
    else:
        try:
            services.comm_template_save(
                actor=request.user, system=system, template=template, **form.cleaned_data
            )
        except services.CommunicationRefused as refused:
            messages.error(request, f"Not saved: {refused}")
        else:
            messages.success(request, f"Template “{template.name}” saved.")
    return redirect("comm-templates:list", slug=slug)


@require_POST
def comm_template_remove(request, slug, pk):
    system = get_object_or_404(AISystem, slug=slug)
    template = get_object_or_404(CommTemplate, system=system, pk=pk)
    require(request.user, "comms.template", system)
    name = template.name
    services.comm_template_remove(actor=request.user, template=template)
    messages.success(request, f"Template “{name}” removed.")
    return redirect("comm-templates:list", slug=slug)
