from datetime import timedelta

from django.contrib import messages
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from core.permissions import require, role_required
from systems import services
from systems.forms import (
    ActionTypeForm,
    ModeForm,
    ReasonForm,
    RunbookForm,
    SystemForm,
    TokenForm,
)
from systems.models import AISystem, Mode
from systems.selectors import (
    drill_effect,
    last_drill,
    mode_change_effect,
    mode_clients,
    mode_history,
    mode_state,
    system_get,
)


@role_required("system.register")
def system_register(request):
    form = SystemForm(request.POST or None, initial={"owner": request.user})
    if request.method == "POST" and form.is_valid():
        system = services.system_register(actor=request.user, **form.cleaned_data)
        messages.success(request, f"{system.name} is registered. Next: its action catalog.")
        return redirect(system)
    return render(request, "systems/form.html", {"form": form})


def _reason(request) -> str:
    form = ReasonForm(request.POST)
    return form.cleaned_data["reason"] if form.is_valid() else ""


def _editable_system(request, slug, action="system.edit"):
    system = system_get(slug)
    require(request.user, action, system)
    return system


def system_edit(request, slug):
    system = _editable_system(request, slug)
    form = SystemForm(request.POST or None, instance=system)
    if request.method == "POST" and form.is_valid():
        # The form has set the new values on `system`; the service records the change.
        changes = {f: form.cleaned_data[f] for f in form.changed_data}
        system.refresh_from_db()
        services.system_update(actor=request.user, system=system, **changes)
        messages.success(request, "Saved.")
        return redirect(system)
    return render(request, "systems/form.html", {"form": form, "system": system})


def _catalog(request, system, form=None, status=200):
    """htmx swaps the catalog in place; a plain form post goes back to the page."""
    if not request.htmx:
        return redirect(system)
    system = system_get(system.slug)  # reload: the catalog has just changed
    context = {"system": system, "action_form": form or ActionTypeForm(system=system)}
    return render(request, "systems/_catalog.html", context, status=status)


@require_POST
def action_type_add(request, slug):
    system = _editable_system(request, slug)
    form = ActionTypeForm(request.POST, system=system)
    if not form.is_valid():
        if not request.htmx:
            messages.error(request, "The action was not added: " + form.errors.as_text())
        return _catalog(request, system, form, status=422)
    services.action_type_add(actor=request.user, system=system, **form.cleaned_data)
    return _catalog(request, system)


@require_POST
def action_type_remove(request, slug, name):
    system = _editable_system(request, slug)
    action_type = get_object_or_404(system.action_types, name=name)
    services.action_type_remove(
        actor=request.user, action_type=action_type, reason=_reason(request)
    )
    return _catalog(request, system)


def runbook_edit(request, slug):
    system = _editable_system(request, slug)
    current = system.runbook
    form = RunbookForm(request.POST or None, initial={"body": current.body if current else ""})
    if request.method == "POST" and form.is_valid():
        version = services.runbook_revise(actor=request.user, system=system, **form.cleaned_data)
        messages.success(request, f"Runbook version {version.number} saved.")
        return redirect(system)
    return render(request, "systems/runbook_form.html", {"system": system, "form": form})


@require_POST
def runbook_review(request, slug):
    system = _editable_system(request, slug)
    try:
        services.runbook_mark_reviewed(actor=request.user, system=system, reason=_reason(request))
    except services.NoRunbook as refused:
        messages.error(request, str(refused))
    else:
        messages.success(request, f"Runbook v{system.runbook.number} marked reviewed.")
    return redirect(system.get_absolute_url() + "#runbook")


@require_POST
def token_issue(request, slug):
    system = _editable_system(request, slug, "token.manage")
    form = TokenForm(request.POST)
    if not form.is_valid():
        messages.error(request, "No token issued: " + form.errors.as_text())
        return redirect(system)
    token, raw = services.token_issue(actor=request.user, system=system, **form.cleaned_data)
    # Shown on this one response and never again: only its hash is stored.
    context = {"system": system, "token": token, "raw": raw}
    response = render(request, "systems/token_issued.html", context)
    response["Cache-Control"] = "no-store"
    return response


@require_POST
def token_revoke(request, slug, prefix):
    system = _editable_system(request, slug, "token.manage")
    token = get_object_or_404(system.tokens, prefix=prefix)
    services.token_revoke(actor=request.user, token=token, reason=_reason(request))
    messages.success(request, f"Token {token.prefix}… revoked. It stops working at once.")
    return redirect(system)


# --- Runtime mode -----------------------------------------------------------------------

# Modes in the order a responder reaches for them: stopping the harm first.
MODE_ORDER = [Mode.OFF, Mode.HUMAN, Mode.DEGRADED, Mode.AI]
MODE_WATCH_FOR = timedelta(seconds=60)
MODE_VERB = {
    Mode.OFF: "Kill switch: turn off",
    Mode.HUMAN: "Route to people",
    Mode.DEGRADED: "Degraded mode",
    Mode.AI: "Back to AI",
}


def mode_choices(system, state):
    """Each mode with the words the confirm shows and why it is unavailable, if it is."""
    choices = []
    for mode in MODE_ORDER:
        meaning, unavailable = services.mode_meaning(system, mode)
        choices.append(
            {
                "mode": mode,
                "verb": MODE_VERB[mode],
                "meaning": meaning,
                "unavailable": unavailable,
                "current": mode == state.mode,
            }
        )
    return choices


def mode_status(system) -> dict:
    """What the mode status block shows, wherever it is (system page, incident page)."""
    state = mode_state(system)
    effect = mode_change_effect(system, state)
    recent = state.changed_at and timezone.now() - state.changed_at < MODE_WATCH_FOR
    return {
        "system": system,
        "state": state,
        "effect": effect,
        # While a fresh mode change is still being acknowledged, the block asks again every second.
        "mode_polling": bool(recent and not effect.complete),
        "choices": mode_choices(system, state),
    }


def mode_context(system, *, error=None) -> dict:
    drill = last_drill(system)
    return {
        **mode_status(system),
        "mode_history": mode_history(system, limit=6),
        "clients": list(mode_clients(system)[:50]),
        "drill": drill,
        "drill_effect": drill_effect(system, drill) if drill else None,
        "mode_error": error,
    }


@role_required("system.view")
def mode_panel(request, slug):
    """The mode panel alone: htmx polls it while a mode change is being acknowledged."""
    system = get_object_or_404(AISystem, slug=slug)
    template = (
        "systems/_mode_status.html"
        if request.GET.get("part") == "status"
        else ("systems/_mode.html")
    )
    return render(request, template, mode_context(system))


def _mode_answer(request, system, error=None):
    if not request.htmx:
        if error:
            messages.error(request, error)
        return redirect(request.POST.get("next") or system.get_absolute_url())
    template = (
        "systems/_mode_status.html"
        if request.POST.get("part") == "status"
        else ("systems/_mode.html")
    )
    return render(
        request, template, mode_context(system, error=error), status=422 if error else 200
    )


@require_POST
@role_required("mode.change")
def mode_set(request, slug):
    system = get_object_or_404(AISystem, slug=slug)
    form = ModeForm(request.POST)
    if not form.is_valid():
        return _mode_answer(request, system, error=form.errors.as_text())
    try:
        services.mode_change(actor=request.user, system=system, **form.cleaned_data)
    except services.ModeRefused as refused:
        return _mode_answer(request, system, error=str(refused))
    return _mode_answer(request, system)


@require_POST
def mode_drill(request, slug):
    system = get_object_or_404(AISystem, slug=slug)
    require(request.user, "mode.drill", system)
    services.mode_drill(actor=request.user, system=system)
    return _mode_answer(request, system)
