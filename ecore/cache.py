"""Django's Redis cache, keeping one Redis client per connection pool, and optional (`ResilientRedisCache`).

Django builds a new `redis.Redis` for every cache call; redis-py fills a table of several hundred
response callbacks each time, which costs about 0.4 ms of CPU per call. The client is thread-safe
and takes its connections from the pool, so one per pool does the same work for a fraction.
"""

import logging
import time

import redis
from django.core.cache.backends import redis as django_redis

logger = logging.getLogger(__name__)


class RedisCacheClient(django_redis.RedisCacheClient):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._clients = {}

    def get_client(self, key=None, *, write=False):
        index = self._get_connection_pool_index(write)
        client = self._clients.get(index)
        if client is None:
            client = self._clients[index] = self._client(connection_pool=self._get_connection_pool(write))
        return client


class RedisCache(django_redis.RedisCache):
    def __init__(self, server, params):
        super().__init__(server, params)
        self._class = RedisCacheClient


class CacheUnavailable(ValueError):
    """A counter (`incr`, `decr`) was asked of the cache while Redis is down; it has no answer to give."""


class ResilientRedisCache(RedisCache):
    """The Redis cache, optional: while Redis cannot be reached, reads miss and writes are dropped.

    Everything eCore caches can be recomputed or read from PostgreSQL (prices, a job's input, MX
    verdicts), so an outage of the cache costs speed, never a request. After a failure the cache is
    skipped for `retry_seconds`, so a Redis that hangs does not add a timeout to every call.
    """

    def __init__(self, server, params):
        super().__init__(server, params)
        self.retry_seconds = float(params.get("RETRY_SECONDS", 5))
        self._down_until = 0.0

    def _guarded(self, operation, fallback, *args, **kwargs):
        if time.monotonic() < self._down_until:
            return fallback()
        try:
            return operation(*args, **kwargs)
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            self._down_until = time.monotonic() + self.retry_seconds
            logger.warning("Redis cache unavailable for %.0f s: %s", self.retry_seconds, exc)
            return fallback()

    def add(self, key, value, timeout=django_redis.DEFAULT_TIMEOUT, version=None):
        return self._guarded(super().add, lambda: False, key, value, timeout, version)

    def get(self, key, default=None, version=None):
        return self._guarded(super().get, lambda: default, key, default, version)

    def set(self, key, value, timeout=django_redis.DEFAULT_TIMEOUT, version=None):
        return self._guarded(super().set, lambda: None, key, value, timeout, version)

    def touch(self, key, timeout=django_redis.DEFAULT_TIMEOUT, version=None):
        return self._guarded(super().touch, lambda: False, key, timeout, version)

    def delete(self, key, version=None):
        return self._guarded(super().delete, lambda: False, key, version)

    def get_many(self, keys, version=None):
        return self._guarded(super().get_many, dict, keys, version)

    def has_key(self, key, version=None):
        return self._guarded(super().has_key, lambda: False, key, version)

    def incr(self, key, delta=1, version=None):
        return self._guarded(super().incr, self._no_counter, key, delta, version)

    def set_many(self, data, timeout=django_redis.DEFAULT_TIMEOUT, version=None):
        return self._guarded(super().set_many, lambda: list(data), data, timeout, version)

    def delete_many(self, keys, version=None):
        return self._guarded(super().delete_many, lambda: None, keys, version)

    def clear(self):
        return self._guarded(super().clear, lambda: False)

    @staticmethod
    def _no_counter():
        raise CacheUnavailable("the cache is unavailable")
