"""django-prometheus' PostgreSQL backend (queries counted for /metrics), with its counting
cursor class made once per database alias. Its own backend makes a new class at every
connect, and under ASGI every request connects (each runs in a thread of its own, taking a
connection from the pool): a class and its functions a request, cyclic garbage that made
the collector's young-generation passes several times longer (docs/PERFORMANCE.md)."""

import threading

from django.db.backends.postgresql import base as django_base
from django_prometheus.db.backends.postgresql import base as prometheus_base
from django_prometheus.db.common import ExportingCursorWrapper

_factories: dict = {}
_factories_lock = threading.Lock()


class DatabaseWrapper(prometheus_base.DatabaseWrapper):
    def get_connection_params(self):
        params = django_base.DatabaseWrapper.get_connection_params(self)
        key = (params["cursor_factory"], self.alias, self.vendor)
        factory = _factories.get(key)
        if factory is None:
            with _factories_lock:
                factory = _factories.setdefault(key, ExportingCursorWrapper(*key))
        params["cursor_factory"] = factory
        return params
