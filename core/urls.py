from django.urls import path

from core import views

urlpatterns = [
    path("", views.home, name="home"),
    path("healthz", views.healthz, name="healthz"),
    path("roles/", views.roles, name="roles"),
    path("audit/", views.audit_log, name="audit-log"),
    path(
        "audit/<slug:app_label>/<slug:model>/<str:object_id>/",
        views.audit_object,
        name="audit-object",
    ),
]
