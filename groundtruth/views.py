"""Ground truth's pages: the review queue, verdicts, the export, the sampling plan, and the
system page's ground-truth card."""

import json
from datetime import timedelta
from urllib.parse import urlencode

from django.contrib import messages
from django.http import Http404, HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST

from core.forms import add_service_error
from core.permissions import require, role_required
from groundtruth import selectors, services
from groundtruth.forms import ReviewPlanForm
from groundtruth.models import ReviewItem, ReviewPlan
from incidents.models import Incident
from monitoring import charts
from monitoring.spreadsheet import csv_lines
from monitoring.views import monitors_page
from systems.models import AISystem

PLAN_PANEL = "review_plan"


def review_plan_panel(request, system, form=None) -> dict:
    """The sampling plan's panel on a system's monitors page (registered in apps.py)."""
    plan = ReviewPlan.objects.filter(system=system).first()
    return {
        "template": "groundtruth/_review_plan.html",
        "form": form or ReviewPlanForm(instance=plan),
    }


@require_POST
def review_plan_edit(request, slug):
    system = get_object_or_404(AISystem, slug=slug)
    require(request.user, "monitor.manage", system)
    form = ReviewPlanForm(request.POST, instance=ReviewPlan.objects.filter(system=system).first())
    if form.is_valid():
        try:
            services.review_plan_set(actor=request.user, system=system, **form.cleaned_data)
        except services.ReviewError as error:
            add_service_error(form, error)
        else:
            messages.success(request, "Sampling plan saved: new outputs are sampled by it.")
            return redirect("monitoring:monitors", slug=slug)
    return monitors_page(request, slug, status=400, panel_forms={PLAN_PANEL: form})


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
    return render(request, "groundtruth/review.html", context)


@role_required("review.view")
def review_item(request):
    """The item fragment alone: what the keyboard's next / previous / skip swap in."""
    context = _item_context(request, _review_filters(request), _at(request))
    return render(request, "groundtruth/_review_item.html", context)


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
            messages.error(request, error.message)
            return redirect(f"{reverse('groundtruth:review')}?{_review_filters(request)['query']}")
        return HttpResponse(error.message, status=409)
    chosen = _review_filters(request)
    if not request.htmx:
        return redirect(f"{reverse('groundtruth:review')}?{chosen['query']}&at={item.pk}")
    return render(request, "groundtruth/_review_item.html", _item_context(request, chosen, item.pk))


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
        response = StreamingHttpResponse(csv_lines(EXPORT_COLUMNS, rows), content_type="text/csv")
    response["Content-Disposition"] = f'attachment; filename="reviewed-outputs.{fmt}"'
    return response
