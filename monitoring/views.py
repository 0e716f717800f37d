import csv
import json
from datetime import timedelta
from urllib.parse import urlencode

from django.contrib import messages
from django.http import Http404, HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST

from core.permissions import can, require, role_required
from incidents.models import Incident
from monitoring import charts, selectors, services
from monitoring.forms import MonitorForm, ReviewPlanForm
from monitoring.models import Monitor, ReviewItem, ReviewPlan
from systems.models import AISystem

CHART_MINUTES = 60


def monitor_card(monitor: Monitor, *, since=None, until=None, marks=()) -> dict:
    """A monitor's chart (its signal per minute with the baseline band) and state."""
    until = until or timezone.now()
    since = since or until - timedelta(minutes=CHART_MINUTES)
    step = max(int((until - since).total_seconds() // 60), 10)
    step = 60 if step <= 60 else step  # per minute over the last hour; wider windows: ~60 points
    points = selectors.series(monitor, since, until, step)
    percent = monitor.is_rate or not (monitor.kind == Monitor.Kind.NUMERIC or monitor.numeric)
    base = selectors.baseline_value(monitor)
    return {
        "monitor": monitor,
        "chart": charts.signal_chart(points, percent=percent, baseline=base, marks=marks),
        "baseline_text": None if base is None else charts.label(base, percent),
        "delay": selectors.expected_delay(monitor),
    }


def shown_split(monitor: Monitor, since, until) -> list[dict]:
    """The per-version split, with each value as people read it."""
    percent = monitor.is_rate or not (monitor.kind == Monitor.Kind.NUMERIC or monitor.numeric)
    rows = selectors.version_split(monitor, since, until)
    for row in rows:
        row["shown"] = "—" if row["value"] is None else charts.label(row["value"], percent)
    return rows


@role_required("system.view")
def monitors_page(request, slug, form=None, status=200, plan_form=None):
    system = get_object_or_404(AISystem, slug=slug)
    plan = ReviewPlan.objects.filter(system=system).first()
    context = {
        "system": system,
        "cards": [monitor_card(m) for m in selectors.system_monitors(system)],
        "form": form or MonitorForm(),
        "plan_form": plan_form or ReviewPlanForm(instance=plan),
        "may_manage": can(request.user, "monitor.manage", system),
    }
    return render(request, "monitoring/monitors.html", context, status=status)


@require_POST
def review_plan_edit(request, slug):
    system = get_object_or_404(AISystem, slug=slug)
    require(request.user, "monitor.manage", system)
    form = ReviewPlanForm(request.POST, instance=ReviewPlan.objects.filter(system=system).first())
    if not form.is_valid():
        return monitors_page(request, slug, plan_form=form, status=400)
    try:
        services.review_plan_set(actor=request.user, system=system, **form.cleaned_data)
    except services.ReviewError as error:
        form.add_error(error.field, str(error))
        return monitors_page(request, slug, plan_form=form, status=400)
    messages.success(request, "Sampling plan saved: new outputs are sampled by it.")
    return redirect("monitoring:monitors", slug=slug)


def ground_truth(system, now=None) -> dict:
    """The system page's ground-truth card: accuracy per day with its interval, the
    baseline, the last 24 hours, and the queue's health."""
    now = now or timezone.now()
    baseline = selectors.accuracy_baseline(system, now)
    points = selectors.accuracy_daily(system, 14, now)
    return {
        "plan": ReviewPlan.objects.filter(system=system).first(),
        "today": selectors.accuracy_estimate(system, now - timedelta(days=1), now),
        "baseline": baseline,
        "chart": charts.signal_chart(
            points, percent=True, baseline=baseline.correct if baseline.reviewed else None
        ),
        "health": selectors.queue_health([system], now),
    }


@require_POST
def monitor_add(request, slug):
    system = get_object_or_404(AISystem, slug=slug)
    require(request.user, "monitor.manage", system)
    form = MonitorForm(request.POST)
    if not form.is_valid():
        return monitors_page(request, slug, form=form, status=400)
    try:
        monitor = services.monitor_create(actor=request.user, system=system, **form.cleaned_data)
    except services.MonitorError as error:
        form.add_error(error.field, str(error))
        return monitors_page(request, slug, form=form, status=400)
    messages.success(request, f"Monitor “{monitor.name}” added: it learns its baseline first.")
    return redirect("monitoring:monitor", slug=slug, pk=monitor.pk)


@role_required("system.view")
def monitor_page(request, slug, pk, form=None, status=200):
    monitor = get_object_or_404(Monitor.objects.select_related("system"), pk=pk, system__slug=slug)
    now = timezone.now()
    context = {
        "system": monitor.system,
        "card": monitor_card(monitor, until=now),
        "split": shown_split(monitor, now - timedelta(minutes=CHART_MINUTES), now),
        "alerts": monitor.alerts.select_related("incident")[:20],
        "form": form or MonitorForm(instance=monitor),
        "may_manage": can(request.user, "monitor.manage", monitor.system),
    }
    return render(request, "monitoring/monitor.html", context, status=status)


@require_POST
def monitor_edit(request, slug, pk):
    monitor = get_object_or_404(Monitor, pk=pk, system__slug=slug)
    require(request.user, "monitor.manage", monitor.system)
    form = MonitorForm(request.POST, instance=Monitor.objects.get(pk=pk))
    if not form.is_valid():
        return monitor_page(request, slug, pk, form=form, status=400)
    try:
        services.monitor_update(actor=request.user, monitor=monitor, **form.cleaned_data)
    except services.MonitorError as error:
        form.add_error(error.field, str(error))
        return monitor_page(request, slug, pk, form=form, status=400)
    messages.success(request, "Monitor changed: it learns its baseline afresh.")
    return redirect("monitoring:monitor", slug=slug, pk=pk)


class _Echo:
    def write(self, value):
        return value


CSV_COLUMNS = ["ts", "system", "event", "subject", "label", "action", "action_subject"]


def _cell(value) -> str:
    """Model output and subjects are untrusted: a spreadsheet must not run them as formulas."""
    text = value.isoformat() if hasattr(value, "isoformat") else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def _csv_lines(rows):
    writer = csv.writer(_Echo())
    yield writer.writerow(CSV_COLUMNS)
    for row in rows:
        yield writer.writerow([_cell(row[column]) for column in CSV_COLUMNS])


@role_required("incident.view")
def blast_radius_page(request, number):
    incident = get_object_or_404(Incident, number=number)
    action_type = request.GET.get("action", "")[:64]
    label = request.GET.get("label", "")[:100]
    rows = selectors.affected(incident, action_type=action_type, label=label)
    if request.GET.get("format") == "csv":
        response = StreamingHttpResponse(_csv_lines(rows), content_type="text/csv")
        response["Content-Disposition"] = (
            f'attachment; filename="INC-{incident.number}-blast-radius.csv"'
        )
        return response
    page = []
    for row in rows:
        page.append(row)
        if len(page) == 500:
            break
    context = {
        "incident": incident,
        "radius": selectors.blast_radius(incident),
        "rows": page,
        "action": action_type,
        "label": label,
    }
    return render(request, "monitoring/blast_radius.html", context)


def incident_detection(incident) -> dict:
    """The incident page's evidence: each alert with its chart over the incident's window
    (onset marked), the signal split by served version, rollback verdicts, blast radius."""
    now = timezone.now()
    since, until = selectors.incident_window(incident, now)
    alerts = selectors.incident_alerts(incident)
    shown = []
    seen = set()
    for alert in alerts:
        if alert.monitor_id in seen:
            continue
        seen.add(alert.monitor_id)
        start = min(since, alert.onset_at or since) - timedelta(minutes=30)
        end = min(now, max(until, alert.resolved_at or now) + timedelta(minutes=10))
        shown.append(
            {
                "alert": alert,
                "card": monitor_card(
                    alert.monitor, since=start, until=end, marks=[(alert.onset_at, "onset")]
                ),
                "split": shown_split(alert.monitor, start, end),
            }
        )
    return {
        "detection": shown,
        "reviews": selectors.incident_reviews(incident, now),
        "verdicts": selectors.rollback_verdicts(incident, now),
        "radius": selectors.blast_radius(incident, now),
    }


# --- The review queue ---------------------------------------------------------------------

KEYS = [
    ("C", "correct"),
    ("X", "incorrect"),
    ("E", "type the expected label or output"),
    ("N", "add a note"),
    ("J", "next"),
    ("K", "previous"),
    ("S", "skip"),
    ("Esc", "leave a field"),
]


def _review_filters(request) -> dict:
    """The queue's filters from the query string; unknown values are ignored, not errors."""
    filters, query = {}, {}
    system = request.GET.get("system", "")
    if system:
        found = AISystem.objects.filter(slug=system).first()
        if found:
            filters["system"], query["system"] = found, system
    incident = request.GET.get("incident", "")
    if incident.isdigit():
        found = Incident.objects.filter(number=int(incident)).first()
        if found:
            filters["incident"], query["incident"] = found, incident
    label = request.GET.get("label", "")[:100]
    if label:
        filters["label"] = query["label"] = label
    return {"filters": filters, "query": urlencode(query)}


def _item_context(request, chosen, at: int | None = None) -> dict:
    queue = selectors.review_queue(reviewer=request.user, **chosen["filters"])
    item = None
    if at is not None:
        item = queue.filter(pk=at).first()
    if item is None:
        item = queue.filter(pk__gt=at).first() if at is not None else None
    if item is None:
        item = queue.first()
    context = {"item": item, "query": chosen["query"], "keys": KEYS, "waiting": queue.count()}
    if item is not None:
        context["previous"] = queue.filter(pk__lt=item.pk).order_by("-pk").first()
        context["next"] = queue.filter(pk__gt=item.pk).first()
        context["position"] = queue.filter(pk__lt=item.pk).count() + 1
        context["actions"] = _catalog_of(item)
    return context


def _catalog_of(item) -> list[dict]:
    catalog = {a.name: a for a in item.system.action_types.all()}
    return [
        {"type": a["type"], "subject": a.get("subject", ""), "known": catalog.get(a["type"])}
        for a in item.event.actions
    ]


def _at(request) -> int | None:
    value = request.GET.get("at", "")
    return int(value) if value.isdigit() else None


@role_required("review.view")
def review_queue(request):
    chosen = _review_filters(request)
    systems = (
        [chosen["filters"]["system"]]
        if "system" in chosen["filters"]
        else list(AISystem.objects.all())
    )
    now = timezone.now()
    context = _item_context(request, chosen, _at(request))
    context |= {
        "health": selectors.queue_health(systems, now),
        "systems": AISystem.objects.order_by("name"),
        "chosen": chosen["filters"],
        "stats": [
            {
                "system": system,
                "today": selectors.accuracy_estimate(system, now - timedelta(days=1), now),
                "baseline": selectors.accuracy_baseline(system, now),
                "agreement": selectors.review_agreement(system),
            }
            for system in systems
            if hasattr(system, "review_plan")
        ],
        "disputed": ReviewItem.objects.filter(
            status=ReviewItem.Status.DISPUTED, system__in=systems
        ).select_related("event", "system")[:20],
    }
    return render(request, "monitoring/review.html", context)


@role_required("review.view")
def review_item(request):
    """The item fragment alone: what the keyboard's next / previous / skip swap in."""
    context = _item_context(request, _review_filters(request), _at(request))
    return render(request, "monitoring/_review_item.html", context)


@require_POST
@role_required("review.view")
def review_verdict(request, pk):
    item = get_object_or_404(ReviewItem, pk=pk)
    verdict = request.POST.get("verdict")
    if verdict not in ("correct", "incorrect"):
        return HttpResponse("verdict: correct or incorrect", status=400)
    try:
        services.verdict_record(
            actor=request.user,
            item=item,
            correct=verdict == "correct",
            expected=request.POST.get("expected", "").strip(),
            note=request.POST.get("note", "").strip()[:4000],
        )
    except services.ReviewError as error:
        if not request.htmx:
            messages.error(request, str(error))
            return redirect(f"{reverse('monitoring:review')}?{_review_filters(request)['query']}")
        return HttpResponse(str(error), status=409)
    chosen = _review_filters(request)
    if not request.htmx:
        return redirect(f"{reverse('monitoring:review')}?{chosen['query']}&at={item.pk}")
    return render(request, "monitoring/_review_item.html", _item_context(request, chosen, item.pk))


EXPORT_COLUMNS = [
    "item",
    "system",
    "event",
    "ts",
    "label",
    "score",
    "text",
    "input",
    "versions",
    "probability",
    "stratum",
    "incident",
    "correct",
    "expected",
    "notes",
    "reviewers",
    "decided_at",
]


def _reviewed_rows(filters):
    items = (
        ReviewItem.objects.filter(status=ReviewItem.Status.DONE)
        .select_related("event", "system", "incident")
        .prefetch_related("verdicts__reviewer")
    )
    if "system" in filters:
        items = items.filter(system=filters["system"])
    if "incident" in filters:
        items = items.filter(incident=filters["incident"])
    if "label" in filters:
        items = items.filter(stratum=filters["label"])
    for item in items.order_by("pk").iterator(chunk_size=500):
        verdicts = list(item.verdicts.all())
        yield {
            "item": item.pk,
            "system": item.system.slug,
            "event": item.event.client_id,
            "ts": item.event.ts.isoformat(),
            "label": item.event.label,
            "score": item.event.score,
            "text": item.event.text,
            "input": item.event.input,
            "versions": item.event.versions,
            "probability": item.probability,
            "stratum": item.stratum,
            "incident": item.incident.number if item.incident else None,
            "correct": item.correct,
            "expected": next((v.expected for v in reversed(verdicts) if v.expected), ""),
            "notes": " | ".join(v.note for v in verdicts if v.note),
            "reviewers": [v.reviewer.get_username() for v in verdicts],
            "decided_at": item.decided_at.isoformat() if item.decided_at else None,
        }


@role_required("review.view")
def review_export(request, fmt):
    """Reviewed outputs as an evaluation set: CSV or JSON Lines."""
    if fmt not in ("csv", "jsonl"):
        raise Http404("csv or jsonl")
    rows = _reviewed_rows(_review_filters(request)["filters"])
    if fmt == "jsonl":
        lines = (json.dumps(row, ensure_ascii=False) + "\n" for row in rows)
        response = StreamingHttpResponse(lines, content_type="application/x-ndjson")
    else:
        writer = csv.writer(_Echo())

        def csv_lines():
            yield writer.writerow(EXPORT_COLUMNS)
            for row in rows:
                yield writer.writerow(
                    [
                        _cell(json.dumps(row[c]) if isinstance(row[c], dict | list) else row[c])
                        if row[c] is not None
                        else ""
                        for c in EXPORT_COLUMNS
                    ]
                )

        response = StreamingHttpResponse(csv_lines(), content_type="text/csv")
    response["Content-Disposition"] = f'attachment; filename="reviewed-outputs.{fmt}"'
    return response
