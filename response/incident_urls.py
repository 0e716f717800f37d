from django.urls import path

from incidents import views

app_name = "incidents"

urlpatterns = [
    path("", views.incident_index, name="list"),
    path("new/", views.incident_declare, name="declare"),
    path("severity/", views.severity_scale, name="severity"),
    path("severity/preview/", views.severity_preview, name="severity-preview"),
    path("<int:number>/", views.incident_detail, name="detail"),
    path("<int:number>/response/", views.incident_summary, name="response"),
    path("<int:number>/timeline/", views.incident_timeline, name="timeline"),
    path("<int:number>/classify/", views.incident_classify, name="classify"),
    path("<int:number>/status/", views.incident_status, name="status"),
    path("<int:number>/people/", views.incident_people, name="people"),
    path("<int:number>/updates/", views.incident_update, name="update"),
    path("<int:number>/messages/", views.incident_message, name="message"),
    path("<int:number>/join/", views.incident_join, name="join"),
    path("<int:number>/postmortem/", views.postmortem_page, name="postmortem"),
    path("<int:number>/postmortem/items/", views.action_item_add, name="action-item-add"),
    path("action-items/", views.action_items_page, name="action-items"),
    path("action-items/<int:pk>/status/", views.action_item_status, name="action-item-status"),
]
