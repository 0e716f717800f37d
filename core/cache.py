"""One Redis connection pool per process for Django's cache.

Django keeps a cache object per async context, and under ASGI every request runs in a
context of its own: each request would build a RedisCache, a pool and a fresh connection
(with its handshake), then drop them. Given as the cache's `pool_class`, this answers the
same pool for the same address and options, so connections are reused across requests.
"""

import threading

import redis


class SharedConnectionPool(redis.ConnectionPool):
    _pools: dict = {}
    _pools_lock = threading.Lock()

    @classmethod
    def from_url(cls, url, **kwargs):
        key = (url, tuple(sorted(kwargs.items())))
        with cls._pools_lock:
            pool = cls._pools.get(key)
            if pool is None:
                pool = cls._pools[key] = super().from_url(url, **kwargs)
            return pool
