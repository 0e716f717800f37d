from django.urls import path

from monitoring import views

app_name = "monitoring"

urlpatterns = [
    path("review/", views.review_queue, name="review"),
    path("review/item/", views.review_item, name="review-item"),
    path("review/<int:pk>/verdict/", views.review_verdict, name="verdict"),
    path("review/export.<str:fmt>", views.review_export, name="review-export"),
    path("systems/<slug:slug>/monitors/", views.monitors_page, name="monitors"),
    path("systems/<slug:slug>/monitors/new/", views.monitor_add, name="monitor-add"),
    path("systems/<slug:slug>/review-plan/", views.review_plan_edit, name="review-plan"),
    path("systems/<slug:slug>/monitors/<int:pk>/", views.monitor_page, name="monitor"),
    path("systems/<slug:slug>/monitors/<int:pk>/edit/", views.monitor_edit, name="monitor-edit"),
    path("incidents/<int:number>/blast-radius/", views.blast_radius_page, name="blast-radius"),
]
