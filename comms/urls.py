from django.urls import path

from comms import views

app_name = "comms"

urlpatterns = [path("", views.status_page, name="status")]
