"""The product's settings with the bench's URLs: the product's own plus a bare view (see
urls_bench.py), so a benchmark can compare a product endpoint with the cheapest Django
view on the same server. Never used outside bench/.

    DJANGO_SETTINGS_MODULE=bench.settings_bench uvicorn config.asgi:application
"""

from config.settings import *  # noqa: F403

ROOT_URLCONF = "bench.urls_bench"
