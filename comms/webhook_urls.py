"""Notification channels (outgoing webhooks), mounted at /webhooks/ (comms.urls is the
public /status/ page)."""

from django.urls import path

from comms.views import webhooks as views

app_name = "webhooks"

urlpatterns = [
    path("", views.webhook_index, name="list"),
    path("<int:pk>/", views.webhook_detail, name="detail"),
    path("<int:pk>/deliveries/", views.webhook_delivery_log, name="deliveries"),
    path("<int:pk>/test/", views.webhook_send_test, name="test"),
    path("<int:pk>/rotate/", views.webhook_rotate_secret, name="rotate"),
    path("<int:pk>/remove/", views.webhook_remove, name="remove"),
]
