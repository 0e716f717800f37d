"""The public status page, mounted at /status/: no sign-in."""

from django.urls import path

from comms.views import status as views

app_name = "comms"

urlpatterns = [
    path("", views.status_page, name="status"),
    path("feed.atom", views.status_feed, name="feed"),
]
