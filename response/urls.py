"""Pages of the top layer that have no other app's prefix of their own."""

from django.urls import path

from response import blast_radius

app_name = "response"

urlpatterns = [
    path(
        "incidents/<int:number>/blast-radius/",
        blast_radius.blast_radius_page,
        name="blast-radius",
    ),
]
