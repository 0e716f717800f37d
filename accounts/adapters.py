"""How django-allauth signs people in through an identity provider, Failsafe's way.

Failsafe's own login page stays the one login page: allauth runs only the OpenID Connect
redirect and callback, never its own pages. So a new person is always signed up at once
(no signup form), and a failure or an inactive account lands back on the login page with
a message. At every sign-in the provider's groups set the person's role
(`OIDC_ROLE_MAP`, `accounts.role_map`).
"""

from allauth.account.adapter import DefaultAccountAdapter
from allauth.core.exceptions import ImmediateHttpResponse
from allauth.socialaccount.adapter import DefaultSocialAccountAdapter
from allauth.socialaccount.providers.base import AuthError
from django.conf import settings
from django.contrib import messages
from django.shortcuts import redirect

from accounts.role_map import groups_in, mapped_groups, role_for
from accounts.services import person_role_sync


def _back_to_login(request, message: str):
    messages.error(request, message)
    return redirect(settings.LOGIN_URL)


class AccountAdapter(DefaultAccountAdapter):
    def add_message(self, *args, **kwargs):
        """allauth's notices ("Successfully signed in as …") are not Failsafe's wording,
        and some link to pages Failsafe does not serve."""

    def respond_user_inactive(self, request, user):
        return _back_to_login(
            request, "This account is switched off. Ask a Failsafe admin to switch it on."
        )


class SocialAccountAdapter(DefaultSocialAccountAdapter):
    def is_auto_signup_allowed(self, request, sociallogin):
        # The provider vouches for the person: there is no signup form to show.
        return True

    def populate_user(self, request, sociallogin, data):
        """The username is the provider's preferred_username, else the email address
        (made unique by allauth if someone already has it)."""
        user = super().populate_user(request, sociallogin, data)
        user.username = (data.get("username") or data.get("email") or "")[:150]
        return user

    def save_user(self, request, sociallogin, form=None):
        user = super().save_user(request, sociallogin, form)
        _role_apply(request, sociallogin)
        return user

    def pre_social_login(self, request, sociallogin):
        # A person seen before; a new one gets their role in save_user, once saved.
        if sociallogin.is_existing:
            _role_apply(request, sociallogin)

    def on_authentication_error(
        self, request, provider, error=None, exception=None, extra_context=None
    ):
        name = provider.name if provider is not None else "your identity provider"
        if error == AuthError.CANCELLED:
            message = f"Sign-in with {name} was cancelled."
        else:
            message = f"Sign-in with {name} did not complete. Try again, or ask a Failsafe admin."
        raise ImmediateHttpResponse(_back_to_login(request, message))


def _claims(extra_data: dict) -> list[dict]:
    """The claim sets allauth kept of this sign-in: the userinfo answer and the ID token."""
    sources = [extra_data.get("userinfo"), extra_data.get("id_token")]
    return [source for source in sources if isinstance(source, dict)] or [extra_data]


def _role_apply(request, sociallogin) -> None:
    """The role the provider's groups map to, given to the person (audited on a change).
    Without a role map roles are not the provider's business: an admin gives them."""
    role_map = settings.OIDC_ROLE_MAP
    if not role_map:
        return
    groups = groups_in(_claims(sociallogin.account.extra_data), settings.OIDC_GROUPS_CLAIM)
    provider = sociallogin.account.get_provider(request).name
    named = ", ".join(mapped_groups(groups, role_map)) or "none mapped to a role"
    person_role_sync(
        person=sociallogin.user,
        role=role_for(groups, role_map),
        reason=f"from {provider} groups: {named}",
    )
