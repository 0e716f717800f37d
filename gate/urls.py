from django.urls import path

from gate import views

app_name = "gate"

urlpatterns = [
    path("holds/", views.holds_page, name="holds"),
    path("holds/summary/", views.holds_summary, name="holds-summary"),
    path("holds/decide/", views.holds_decide, name="holds-decide"),
    path("systems/<slug:slug>/gate/", views.rules_page, name="rules"),
    path("systems/<slug:slug>/gate/<str:name>/", views.rule_set, name="rule-set"),
    path("systems/<slug:slug>/gate/<str:name>/reset/", views.breaker_reset, name="reset"),
]
