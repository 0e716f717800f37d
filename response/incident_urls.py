"""The incident pages' routes. They mix incidents' own views with the incident page, which
composes every app, so the route table lives in the top layer; the names stay `incidents:`."""

from django.urls import path

from incidents import views
from response import incident_page

app_name = "incidents"

urlpatterns = [
    path("", views.incident_index, name="list"),
    path("new/", views.incident_declare, name="declare"),
    path("severity/", views.severity_scale, name="severity"),
    path("severity/preview/", views.severity_preview, name="severity-preview"),
    path("<int:number>/", incident_page.incident_detail, name="detail"),
    path("<int:number>/response/", incident_page.incident_summary, name="response"),
    path("<int:number>/timeline/", incident_page.incident_timeline, name="timeline"),
    path("<int:number>/classify/", incident_page.incident_classify, name="classify"),
    path("<int:number>/status/", incident_page.incident_status, name="status"),
    path("<int:number>/people/", incident_page.incident_people, name="people"),
    path("<int:number>/updates/", incident_page.incident_update, name="update"),
    path("<int:number>/messages/", incident_page.incident_message, name="message"),
    path("<int:number>/join/", incident_page.incident_join, name="join"),
    path("<int:number>/postmortem/", views.postmortem_page, name="postmortem"),
    path("<int:number>/postmortem/items/", views.action_item_add, name="action-item-add"),
    path("action-items/", views.action_items_page, name="action-items"),
    path("action-items/<int:pk>/status/", views.action_item_status, name="action-item-status"),
]
