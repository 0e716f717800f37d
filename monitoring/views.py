"""Monitoring's pages: a system's monitors, one monitor, and the monitor cards and
detection evidence that the system and incident pages show."""

from collections.abc import Callable
from datetime import timedelta

from django.contrib import messages
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from core.forms import add_service_error
from core.permissions import can, require, role_required
from monitoring import charts
from monitoring.forms import MonitorForm
from monitoring.models import Monitor
from monitoring.selectors.incident import incident_alerts, incident_window, rollback_verdicts
from monitoring.selectors.signals import (
    baseline_value,
    counted,
    expected_delay,
    series,
    share_of,
    system_monitors,
    version_split,
    window_value,
)
from monitoring.services import monitors
from systems.models import AISystem

CHART_MINUTES = 60

# Panels a higher app adds to a system's monitors page, below "Add a monitor" (ground
# truth adds its sampling plan), registered in that app's AppConfig.ready():
#     register_monitors_panel("review_plan", review_plan_panel)
# A panel is called as `panel(request, system, form)` and answers its context with the
# "template" to include; `form` is the bound form a refused POST of the panel hands back
# (`monitors_page(..., panel_forms={name: form})`), None otherwise.
Panel = Callable[..., dict]
MONITORS_PANELS: dict[str, Panel] = {}


def register_monitors_panel(name: str, panel: Panel) -> None:
    MONITORS_PANELS[name] = panel


def monitor_card(monitor: Monitor, *, since=None, until=None, marks=()) -> dict:
    """A monitor's chart (its signal per minute with the baseline band) and state."""
    until = until or timezone.now()
    since = since or until - timedelta(minutes=CHART_MINUTES)
    step = max(int((until - since).total_seconds() // 60), 10)
    step = 60 if step <= 60 else step  # per minute over the last hour; wider windows: ~60 points
    points = series(monitor, since, until, step)
    percent = monitor.is_rate or not (monitor.kind == Monitor.Kind.NUMERIC or monitor.numeric)
    base = baseline_value(monitor)
    return {
        "monitor": monitor,
        "chart": charts.signal_chart(points, percent=percent, baseline=base, marks=marks),
        "baseline_text": None if base is None else charts.label(base, percent),
        "delay": expected_delay(monitor),
        "summary": _summary(monitor, window_value(points), percent),
        # What its counts and delays are in: a score share's are of scored outputs only.
        "unit": "scored outputs" if monitor.kind == Monitor.Kind.SCORE_SHARE else "events",
    }


def _summary(monitor: Monitor, value, percent: bool) -> str:
    """The card's line: "faithfulness below 0.5: 4.8% of scored outputs"."""
    what = counted(monitor)
    if value is None:
        return f"{what}: nothing to count in this window"
    if monitor.is_rate:
        return f"{what}: {charts.label(value, percent)} {share_of(monitor)}"
    if not percent:
        return f"{what}: mean {charts.label(value, percent)}"
    return f"{what}: {charts.label(value, percent)} in its commonest category"


def shown_split(monitor: Monitor, since, until) -> list[dict]:
    """The per-version split, with each value as people read it."""
    percent = monitor.is_rate or not (monitor.kind == Monitor.Kind.NUMERIC or monitor.numeric)
    rows = version_split(monitor, since, until)
    for row in rows:
        row["shown"] = "—" if row["value"] is None else charts.label(row["value"], percent)
    return rows


@role_required("system.view")
def monitors_page(request, slug, form=None, status=200, panel_forms=None):
    system = get_object_or_404(AISystem, slug=slug)
    may_manage = can(request.user, "monitor.manage", system)
    given = panel_forms or {}
    context = {
        "system": system,
        "cards": [monitor_card(m) for m in system_monitors(system)],
        "form": form or MonitorForm(),
        "panels": [
            panel(request, system, given.get(name)) for name, panel in MONITORS_PANELS.items()
        ]
        if may_manage
        else [],
        "may_manage": may_manage,
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
        monitor = monitors.monitor_create(actor=request.user, system=system, **form.cleaned_data)
    except monitors.MonitorError as error:
        add_service_error(form, error)
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
        monitors.monitor_update(actor=request.user, monitor=monitor, **form.cleaned_data)
    except monitors.MonitorError as error:
        add_service_error(form, error)
        return monitor_page(request, slug, pk, form=form, status=400)
    messages.success(request, "Monitor changed: it learns its baseline afresh.")
    return redirect("monitoring:monitor", slug=slug, pk=pk)


def incident_detection(incident, now=None) -> dict:
    """The incident page's evidence from the monitors: each alert with its chart over the
    incident's window (onset marked) and the signal split by served version (an alert
    another tool sent has neither), and the rollback verdicts. The page adds the blast
    radius (`response.blast_radius`) and what the reviewers found
    (`groundtruth.selectors.incident_reviews`)."""
    now = now or timezone.now()
    since, until = incident_window(incident, now)
    shown: list[dict] = []
    seen = set()
    for alert in incident_alerts(incident):
        monitor = alert.monitor
        if monitor is None:
            # Sent by another tool: its summary and labels, no signal of ours to chart.
            labels = sorted(alert.labels.items())
            shown.append({"alert": alert, "card": None, "split": None, "labels": labels})
            continue
        if monitor.pk in seen:
            continue
        seen.add(monitor.pk)
        start = min(since, alert.onset_at or since) - timedelta(minutes=30)
        end = min(now, max(until, alert.resolved_at or now) + timedelta(minutes=10))
        shown.append(
            {
                "alert": alert,
                "card": monitor_card(
                    monitor, since=start, until=end, marks=[(alert.onset_at, "onset")]
                ),
                "split": shown_split(monitor, start, end),
            }
        )
    return {"detection": shown, "verdicts": rollback_verdicts(incident, now)}
