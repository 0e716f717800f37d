"""A system's communication templates, mounted at /systems/<slug>/communication-templates/."""

from django.urls import path

from comms.views import templates as views

app_name = "comm-templates"

urlpatterns = [
    path("", views.comm_templates, name="list"),
    path("<int:pk>/", views.comm_template_edit, name="edit"),
    path("<int:pk>/remove/", views.comm_template_remove, name="remove"),
]
