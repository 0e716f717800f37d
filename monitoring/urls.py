from django.urls import path

from monitoring import views

app_name = "monitoring"

urlpatterns = [
    path("systems/<slug:slug>/monitors/", views.monitors_page, name="monitors"),
    path("systems/<slug:slug>/monitors/new/", views.monitor_add, name="monitor-add"),
    path("systems/<slug:slug>/monitors/<int:pk>/", views.monitor_page, name="monitor"),
    path("systems/<slug:slug>/monitors/<int:pk>/edit/", views.monitor_edit, name="monitor-edit"),
]
