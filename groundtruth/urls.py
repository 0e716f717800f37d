from django.urls import path

from groundtruth import views

app_name = "groundtruth"

urlpatterns = [
    path("review/", views.review_queue, name="review"),
    path("review/item/", views.review_item, name="review-item"),
    path("review/<int:pk>/verdict/", views.review_verdict, name="verdict"),
    path("review/export.<str:fmt>", views.review_export, name="review-export"),
    path("systems/<slug:slug>/review-plan/", views.review_plan_edit, name="review-plan"),
]
