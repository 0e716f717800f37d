"""The system pages' routes: the list and a system's page compose every app (response's
views), the rest are systems' own; the names stay `systems:`."""

from django.urls import path

from response import views as composed
from systems import views

app_name = "systems"

urlpatterns = [
    path("", composed.system_index, name="list"),
    path("new/", views.system_register, name="register"),
    path("<slug:slug>/", composed.system_detail, name="detail"),
    path("<slug:slug>/edit/", views.system_edit, name="edit"),
    path("<slug:slug>/runbook/", views.runbook_edit, name="runbook"),
    path("<slug:slug>/runbook/reviewed/", views.runbook_review, name="runbook-reviewed"),
    path("<slug:slug>/actions/", views.action_type_add, name="action-add"),
    path("<slug:slug>/actions/<str:name>/remove/", views.action_type_remove, name="action-remove"),
    path("<slug:slug>/mode/", views.mode_set, name="mode"),
    path("<slug:slug>/mode/panel/", views.mode_panel, name="mode-panel"),
    path("<slug:slug>/mode/drill/", views.mode_drill, name="mode-drill"),
    path("<slug:slug>/tokens/", views.token_issue, name="token-issue"),
    path("<slug:slug>/tokens/<str:prefix>/revoke/", views.token_revoke, name="token-revoke"),
]
