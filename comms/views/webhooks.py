"""Notification channels' pages: admins only. A signing secret is shown once, on the page
the person lands on after it was issued (adding the channel, or rotating its secret)."""

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST
from django_htmx.http import HttpResponseClientRedirect

from comms import webhooks
from comms.forms import WebhookForm
from comms.models import Webhook, WebhookDelivery
from core.permissions import role_required
from core.selectors import audit_entries_for


def _no_store(response):
    # A page may show a signing secret, once.
    response["Cache-Control"] = "no-store"
    return response


def _show_secret_once(request, webhook: Webhook) -> None:
    """Kept in the (server-side) session until the channel's page has shown it."""
    request.session[f"webhook-secret-{webhook.pk}"] = webhook.secret


def _secret_to_show(request, webhook: Webhook) -> str:
    return request.session.pop(f"webhook-secret-{webhook.pk}", "")


def _initial(webhook: Webhook) -> dict:
    fields = ("name", "transport", "url", "events", "severities", "active")
    return {f: getattr(webhook, f) for f in fields}


@role_required("webhook.manage")
def webhook_index(request):
    form = WebhookForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            webhook = webhooks.webhook_create(actor=request.user, **form.cleaned_data)
        except ValidationError as error:
            form.add_error(None, error)  # the service's errors, on the fields it names
        else:
            if webhook.signs:
                _show_secret_once(request, webhook)
            messages.success(
                request, f"Channel “{webhook.name}” added. Send it a test to check it."
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
        secret = webhook.secret
        try:
            webhook = webhooks.webhook_update(
                actor=request.user, webhook=webhook, **form.cleaned_data
            )
        except ValidationError as error:
            form.add_error(None, error)
        else:
            if webhook.secret != secret:
                _show_secret_once(request, webhook)
            messages.success(request, "Saved.")
            return redirect("webhooks:detail", pk=webhook.pk)
    context = {
        **_log_context(webhook),
        "form": form,
        "secret": _secret_to_show(request, webhook),
        "rotating": len(webhook.signing_secrets(timezone.now())) > 1,
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


def _to(request, name: str, *args):
    """Where a confirmed (hx-confirm) or plain form post goes next."""
    if request.htmx:
        return HttpResponseClientRedirect(reverse(name, args=args))
    return redirect(name, *args)


@role_required("webhook.manage")
@require_POST
def webhook_rotate_secret(request, pk):
    webhook = get_object_or_404(Webhook, pk=pk)
    try:
        webhook = webhooks.webhook_rotate_secret(actor=request.user, webhook=webhook)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        _show_secret_once(request, webhook)
        messages.success(request, "New secret issued. Copy it now: it is shown once.")
    return _to(request, "webhooks:detail", webhook.pk)


@role_required("webhook.manage")
@require_POST
def webhook_remove(request, pk):
    webhook = get_object_or_404(Webhook, pk=pk)
    name = webhook.name
    webhooks.webhook_remove(actor=request.user, webhook=webhook)
    messages.success(request, f"Channel “{name}” removed. Nothing more is sent to it.")
    return _to(request, "webhooks:list")
