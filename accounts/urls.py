from django.urls import path

from accounts import views

app_name = "accounts"

urlpatterns = [
    path("tokens/", views.tokens, name="tokens"),
    path("tokens/<str:prefix>/revoke", views.token_revoke, name="token-revoke"),
]
