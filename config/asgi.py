import gc
import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

# Django must be set up before anything imports models.
django_asgi_app = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402

from comms.routing import websocket_urlpatterns  # noqa: E402

# What is loaded now lives as long as the process: keep the collector from walking it on
# every full collection, and let a 5,000-event batch allocate with fewer collections. A much
# larger threshold helped ingestion a little more but made each pause long enough to show
# in the gate's p99 (docs/PERFORMANCE.md).
gc.freeze()
gc.set_threshold(10_000, 10, 10)

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        # The incident room: the session cookie signs the person in; pages from other
        # origins may not open a socket in their name.
        "websocket": AllowedHostsOriginValidator(
            AuthMiddlewareStack(URLRouter(websocket_urlpatterns))
        ),
    }
)
