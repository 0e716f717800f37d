"""One Redis connection pool, and one client over it, per process for Django's cache.

Django keeps a cache object per async context, and under ASGI every request runs in a
context of its own: each request would build a RedisCache, a pool and a fresh connection
(with its handshake), then drop them. Given as the cache's `pool_class`,
`SharedConnectionPool` answers the same pool for the same address and options, so
connections are reused across requests. `RedisCache` also keeps the client object: redis-py
builds its table of reply callbacks in each new client, which cost as much CPU as the GET it
was built for.
"""

import threading

import redis
from django.core.cache.backends import redis as django_redis


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


class SharedClientCacheClient(django_redis.RedisCacheClient):
    """One redis-py client per pool (clients are thread-safe: each command takes a
    connection from the pool)."""

    _clients: dict = {}
    _clients_lock = threading.Lock()

    def get_client(self, key=None, *, write=False):
        pool = self._get_connection_pool(write)
        client = self._clients.get(pool)
        if client is None:
            with self._clients_lock:
                client = self._clients.setdefault(pool, self._client(connection_pool=pool))
        return client


class RedisCache(django_redis.RedisCache):
    """Django's Redis cache with its client kept per pool (see SharedClientCacheClient)."""

    def __init__(self, server, params):
        super().__init__(server, params)
        self._class = SharedClientCacheClient
