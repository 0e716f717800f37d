"""The sign-in pages: the login page (passwords, and a button per identity provider), the
guard around allauth's OpenID Connect views, and the break-glass link's page."""

import logging
from functools import wraps

import requests
from allauth.socialaccount.providers.openid_connect import views as oidc_views
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_not_required
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache

from accounts.break_glass import break_glass_person
from accounts.password_sign_in import SWITCHED_OFF_MESSAGE
from accounts.services import break_glass_sign_in_record

logger = logging.getLogger(__name__)


class SignInView(auth_views.LoginView):
    """Failsafe's one login page. With `PASSWORD_LOGIN` off it shows only the identity
    providers' buttons, and a password sent anyway is refused before it is checked."""

    redirect_authenticated_user = True

    def post(self, request, *args, **kwargs):
        if settings.PASSWORD_LOGIN:
            return super().post(request, *args, **kwargs)
        context = self.get_context_data(form=self.get_form(), refusal=SWITCHED_OFF_MESSAGE)
        return self.render_to_response(context, status=403)


def _provider_guard(view, *, post_only: bool):
    """allauth's view, with an unreachable identity provider answered by the login page
    and its message rather than an error page. The sign-in starts with a POST only: on a
    GET allauth would show a page of its own."""

    @login_not_required
    @wraps(view)
    def guarded(request, provider_id):
        if post_only and request.method != "POST":
            return redirect(settings.LOGIN_URL)
        try:
            return view(request, provider_id=provider_id)
        except requests.RequestException as error:
            logger.warning("identity provider %s unreachable: %s", provider_id, error)
            messages.error(request, "The identity provider is not answering. Try again shortly.")
            return redirect(settings.LOGIN_URL)

    return guarded


provider_login = _provider_guard(oidc_views.login, post_only=True)
provider_callback = _provider_guard(oidc_views.callback, post_only=False)


@login_not_required
@never_cache
def break_glass(request, uid, token):
    """A one-time link from `manage.py break_glass`: a page to confirm, then the sign-in
    (a POST, so a link preview cannot spend it)."""
    person = break_glass_person(uid, token)
    if person is None:
        return render(request, "registration/break_glass.html", {"person": None}, status=400)
    if request.method != "POST":
        return render(request, "registration/break_glass.html", {"person": person})
    login(request, person, backend="django.contrib.auth.backends.ModelBackend")
    break_glass_sign_in_record(person=person)
    return redirect(settings.LOGIN_REDIRECT_URL)
