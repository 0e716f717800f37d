"""The part of django-allauth that single sign-on needs, mounted under /accounts/: the
OpenID Connect redirect and callback. allauth's own login, signup and account pages are
not served; the names are allauth's, which it reverses itself."""

from django.urls import path

from accounts.sign_in_views import provider_callback, provider_login

urlpatterns = [
    path("oidc/<str:provider_id>/login/", provider_login, name="openid_connect_login"),
    path(
        "oidc/<str:provider_id>/login/callback/",
        provider_callback,
        name="openid_connect_callback",
    ),
]
