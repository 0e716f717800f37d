"""An incident's external communication, mounted at /incidents/<number>/communications/."""

from django.urls import path

from comms.views import communications as views

app_name = "communications"

urlpatterns = [
    path("", views.communication_page, name="page"),
    path("obligation/", views.obligation_panel, name="obligation"),
    path("decide/", views.obligation_decide, name="decide"),
    path("draft/", views.communication_save, name="save"),
    path("check/", views.communication_check, name="check"),
    path("approve/", views.communication_approve, name="approve"),
    path("publish/", views.communication_publish, name="publish"),
    path("notices.csv", views.notices_export, name="notices"),
]
