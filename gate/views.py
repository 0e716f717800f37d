"""Pages of the gate: the held-actions queue, and each system's gate rules."""

import uuid
from urllib.parse import urlencode

from django.contrib import messages
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from core.forms import add_service_error
from core.permissions import can, require, role_required
from gate import selectors
from gate.errors import GateError
from gate.forms import GateRuleForm, HoldDecisionForm
from gate.models import GateRule, Hold
from gate.services import breaker, holds
from gate.services.rule_set import RULE_FIELDS, gate_rule_set
from incidents.models import Incident
from systems.models import ActionType, AISystem

SHOWN = 200


def _filters(params) -> dict:
    status = params.get("status") or Hold.Status.PENDING
    if status not in (*Hold.Status.values, "any"):
        status = Hold.Status.PENDING
    incident = None
    number = (params.get("incident") or "").strip()
    if number.isdigit():
        incident = Incident.objects.filter(number=int(number)).first()
    return {
        "system": (params.get("system") or "").strip(),
        "action": (params.get("action") or "").strip(),
        "incident": incident,
        "status": status,
    }


def _query(filters: dict) -> str:
    shown = {
        "system": filters["system"],
        "action": filters["action"],
        "incident": filters["incident"].number if filters["incident"] else "",
        "status": filters["status"],
    }
    return urlencode({k: v for k, v in shown.items() if v})


@role_required("system.view")
def holds_page(request):
    """The queue: held actions, filtered by system, action type and incident window."""
    filters = _filters(request.GET)
    listed = selectors.holds_filtered(**filters)
    pending = selectors.holds_filtered(**{**filters, "status": Hold.Status.PENDING})
    context = {
        "filters": filters,
        "query": _query(filters),
        "holds": list(listed[:SHOWN]),
        "total": listed.count(),
        "shown": SHOWN,
        "summary": selectors.hold_counts(pending),
        "systems": AISystem.objects.order_by("name"),
        "actions": sorted(set(ActionType.objects.values_list("name", flat=True))),
        "statuses": [*Hold.Status.values, "any"],
        "may_decide": can(request.user, "hold.decide"),
        "form": HoldDecisionForm(),
    }
    return render(request, "gate/holds.html", context)


@role_required("system.view")
def holds_summary(request):
    """The live part of the queue: pending holds by system and action (htmx, every 5 s)."""
    filters = {**_filters(request.GET), "status": Hold.Status.PENDING}
    context = {
        "summary": selectors.hold_counts(selectors.holds_filtered(**filters)),
        "query": _query(filters),
    }
    return render(request, "gate/_holds_summary.html", context)


@require_POST
def holds_decide(request):
    require(request.user, "hold.decide")
    form = HoldDecisionForm(request.POST)
    back = reverse("gate:holds")
    if not form.is_valid():
        messages.error(request, "Choose approve or reject and give a reason.")
        return redirect(back)
    data = form.cleaned_data
    filters = _filters(
        {
            "system": data["system"],
            "action": data["action"],
            "incident": str(data["incident"] or ""),
            "status": Hold.Status.PENDING,
        }
    )
    back = f"{back}?{_query(filters)}"
    if data["scope"] == "matching":
        chosen = selectors.holds_filtered(**filters)
    else:
        codes = []
        for raw in request.POST.getlist("holds"):
            try:
                codes.append(uuid.UUID(raw))
            except ValueError:
                continue
        if not codes:
            messages.error(request, "Select the holds to decide, or choose every matching one.")
            return redirect(back)
        chosen = Hold.objects.filter(code__in=codes)
    try:
        n = holds.holds_decide(
            actor=request.user, holds=chosen, outcome=data["outcome"], reason=data["reason"]
        )
    except GateError as error:
        messages.error(request, str(error))
        return redirect(back)
    verb = "Approved" if data["outcome"] == "approve" else "Rejected"
    messages.success(request, f"{verb} {n} held action{'s' if n != 1 else ''}.")
    return redirect(back)


@role_required("system.view")
def rules_page(request, slug, forms=None, status=200):
    system = get_object_or_404(AISystem, slug=slug)
    rows = selectors.system_rules(system)
    forms = forms or {}
    for row in rows:
        name = row["action_type"].name
        row["form"] = forms.get(name) or GateRuleForm(instance=row["rule"], prefix=name)
    context = {
        "system": system,
        "rows": rows,
        "may_manage": can(request.user, "gate.manage", system),
    }
    return render(request, "gate/rules.html", context, status=status)


@require_POST
def rule_set(request, slug, name):
    action = name
    action_type = get_object_or_404(
        ActionType.objects.select_related("system"), system__slug=slug, name=action
    )
    require(request.user, "gate.manage", action_type.system)
    rule = getattr(action_type, "gate_rule", None) or GateRule(
        action_type=action_type, system=action_type.system
    )
    form = GateRuleForm(request.POST, instance=rule, prefix=action)
    if form.is_valid():
        fields = {name: form.cleaned_data[name] for name in RULE_FIELDS}
        try:
            gate_rule_set(
                actor=request.user,
                action_type=action_type,
                reason=form.cleaned_data["reason"],
                **fields,
            )
        except GateError as error:
            add_service_error(form, error)
        else:
            messages.success(request, f"Gate rule for {action} saved.")
            return redirect("gate:rules", slug=slug)
    return rules_page(request, slug, forms={action: form}, status=400)


@require_POST
def breaker_reset(request, slug, name):
    action = name
    rule = get_object_or_404(
        GateRule.objects.select_related("system", "action_type"),
        system__slug=slug,
        action_type__name=action,
    )
    try:
        closed = breaker.breaker_reset(
            actor=request.user, rule=rule, reason=request.POST.get("reason", "")
        )
    except GateError as error:
        messages.error(request, str(error))
    else:
        if closed:
            messages.success(request, f"The breaker of {action} is closed.")
    return redirect("gate:rules", slug=slug)
