from django.conf import settings
from django.contrib import messages
from django.contrib.auth.forms import AuthenticationForm
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_http_methods, require_POST

from accounts.forms import PersonalTokenForm
from accounts.sign_in_lock import sign_in_lock_of
from accounts.token_selectors import personal_tokens_of
from accounts.token_services import PersonalTokenError, personal_token_create, personal_token_revoke
from core.forms import add_service_error


def _tokens_page(request, form, status=200):
    context = {"form": form, "tokens": personal_tokens_of(request.user)}
    return render(request, "accounts/tokens.html", context, status=status)


@require_http_methods(["GET", "POST"])
def tokens(request):
    """Your API tokens: create one, see yours, revoke one. Only ever the signed-in
    person's own; a token acts with its person's role, so anyone signed in may have one."""
    if request.method == "GET":
        return _tokens_page(request, PersonalTokenForm())
    form = PersonalTokenForm(request.POST)
    if not form.is_valid():
        return _tokens_page(request, form, status=400)
    try:
        token, raw = personal_token_create(
            user=request.user,
            name=form.cleaned_data["name"],
            scope=form.cleaned_data["scope"],
            expires_at=form.expires_at(),
        )
    except PersonalTokenError as refused:
        add_service_error(form, refused)
        return _tokens_page(request, form, status=400)
    # Shown on this one response and never again: only its hash is stored.
    response = render(request, "accounts/token_created.html", {"token": token, "raw": raw})
    response["Cache-Control"] = "no-store"
    return response


@require_POST
def token_revoke(request, prefix):
    token = get_object_or_404(personal_tokens_of(request.user), prefix=prefix)
    personal_token_revoke(actor=request.user, token=token, reason=request.POST.get("reason", ""))
    messages.success(request, f"Token {token.prefix}… revoked. It stops working at once.")
    return redirect("accounts:tokens")


def sign_in_locked(request, original_response=None, credentials=None):
    """The login page with the lock's message, as axes' lockout response (429).

    Credentials are read from the request: axes passes them in a different position
    when it runs as async middleware.
    """
    credentials = getattr(request, "axes_credentials", None) or credentials
    lock = sign_in_lock_of(request, credentials if isinstance(credentials, dict) else None)
    message = lock.message(timezone.now()) if lock else str(settings.AXES_COOLOFF_MESSAGE)
    form = AuthenticationForm(request, initial={"username": request.POST.get("username", "")})
    context = {"form": form, "lock_message": message, "next": request.POST.get("next", "")}
    return render(request, "registration/login.html", context, status=429)
