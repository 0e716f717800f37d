from django.urls import path

from rollbacks import views

app_name = "rollbacks"

urlpatterns = [
    path("", views.versions_page, name="versions"),
    path("new/", views.version_new, name="new"),
    path("changes/", views.change_timeline, name="changes"),
    path("config-schema/", views.config_schema_edit, name="config-schema"),
    path("requests/<int:pk>/", views.change_decide, name="decide"),
    path("<str:surface>/compare/", views.version_compare, name="compare"),
    path("<str:surface>/<int:number>/activate/", views.version_activate, name="activate"),
]
