import csv
from datetime import timedelta

from django.contrib import messages
from django.http import StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from core.permissions import can, require, role_required
from incidents.models import Incident
from monitoring import charts, selectors, services
from monitoring.forms import MonitorForm
from monitoring.models import Monitor
from systems.models import AISystem

CHART_MINUTES = 60


@role_required("review.view")
def review_queue(request):
    return render(request, "monitoring/review.html")


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
def monitors_page(request, slug, form=None, status=200):
    system = get_object_or_404(AISystem, slug=slug)
    context = {
        "system": system,
        "cards": [monitor_card(m) for m in selectors.system_monitors(system)],
        "form": form or MonitorForm(),
        "may_manage": can(request.user, "monitor.manage", system),
    }
    return render(request, "monitoring/monitors.html", context, status=status)


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
        "verdicts": selectors.rollback_verdicts(incident, now),
        "radius": selectors.blast_radius(incident, now),
    }
