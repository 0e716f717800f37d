"""The product's URLs plus `/bench/constant`: a plain Django view answering constant JSON
of the same shape as `GET mode`, through the same middleware. The baseline of
bench/mode_throughput.py; not part of the product."""

from django.contrib.auth.decorators import login_not_required
from django.http import JsonResponse
from django.urls import path

from config.urls import urlpatterns as product_urlpatterns


@login_not_required
def constant_view(request):
    return JsonResponse({"system": "x", "mode": "ai", "revision": 1})


urlpatterns = [*product_urlpatterns, path("bench/constant", constant_view)]
