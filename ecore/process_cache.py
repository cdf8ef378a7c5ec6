"""What a process keeps of what it read from Redis or PostgreSQL, so that the next request need not
ask again: each copy is bounded, may expire, and `process_caches_clear` forgets them all at once."""

import threading
import time
import weakref
from collections.abc import Callable, Hashable, Iterable, Mapping

from cachetools import LRUCache, TLRUCache

_MISSING = object()
_all_caches: "weakref.WeakSet[ProcessCache]" = weakref.WeakSet()


def _monotonic() -> float:
    # time.monotonic looked up at each call, not bound once, so that tests can move the clock.
    return time.monotonic()


class ProcessCache:
    """At most `max_entries` entries, the least recently used dropped first. With `seconds`, an entry
    lasts that many seconds from when it was put; `seconds` is called at each put, so it may read a
    setting."""

    def __init__(self, *, max_entries: int, seconds: Callable[[], float] | None = None):
        if seconds is None:
            self._entries = LRUCache(maxsize=max_entries)
        else:
            self._entries = TLRUCache(maxsize=max_entries, ttu=lambda _key, _value, now: now + seconds(),
                                      timer=_monotonic)
        # cachetools' caches are not thread-safe, and the development server answers in threads.
        self._lock = threading.Lock()
        _all_caches.add(self)

    def get(self, key: Hashable, default=None):
        with self._lock:
            return self._entries.get(key, default)

    def get_many(self, keys: Iterable[Hashable]) -> dict:
        with self._lock:
            found = {key: self._entries.get(key, _MISSING) for key in keys}
        return {key: value for key, value in found.items() if value is not _MISSING}

    def put(self, key: Hashable, value) -> None:
        with self._lock:
            self._entries[key] = value

    def put_many(self, values: Mapping) -> None:
        with self._lock:
            self._entries.update(values)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


def process_caches_clear() -> None:
    """Forgets every process cache: what tests do between tests, whose rows are rolled back."""
    for process_cache in list(_all_caches):
        process_cache.clear()
