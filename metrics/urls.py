from django.urls import path

from metrics.views import metrics

app_name = "metrics"
urlpatterns = [path("", metrics, name="metrics")]
