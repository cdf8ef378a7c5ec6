"""Django's Redis cache, keeping one Redis client per connection pool.

Django builds a new `redis.Redis` for every cache call; redis-py fills a table of several hundred
response callbacks each time, which costs about 0.4 ms of CPU per call. The client is thread-safe
and takes its connections from the pool, so one per pool does the same work for a fraction.
"""

from django.core.cache.backends import redis as django_redis


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
