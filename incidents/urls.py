from django.urls import path

from incidents import views

app_name = "incidents"

urlpatterns = [
    path("", views.incident_index, name="list"),
    path("<int:number>/", views.incident_detail, name="detail"),
]
