"""What the login page offers, whichever view renders it (the login view, the sign-in
lock's answer): the identity providers' buttons and whether passwords are accepted."""

from django import template
from django.conf import settings
from django.urls import reverse

register = template.Library()


@register.simple_tag
def identity_providers() -> list[dict]:
    """[{"name", "url"}] per configured provider; the button POSTs to its url."""
    apps = settings.SOCIALACCOUNT_PROVIDERS.get("openid_connect", {}).get("APPS", [])
    return [
        {
            "name": app["name"],
            "url": reverse("openid_connect_login", kwargs={"provider_id": app["provider_id"]}),
        }
        for app in apps
    ]


@register.simple_tag
def password_sign_in() -> bool:
    return settings.PASSWORD_LOGIN
