"""ecore.process_cache: bounded, optionally expiring copies kept in the process."""

from ecore import process_cache
from ecore.process_cache import ProcessCache, process_caches_clear


def test_the_least_recently_used_entry_goes_first_when_the_cache_is_full():
    names = ProcessCache(max_entries=2)
    names.put_many({"a": 1, "b": 2})
    assert names.get("a") == 1
    names.put("c", 3)
    assert names.get_many(["a", "b", "c"]) == {"a": 1, "c": 3}


def test_an_entry_lasts_the_seconds_read_when_it_was_put(monkeypatch):
    now = [1000.0]
    monkeypatch.setattr(process_cache.time, "monotonic", lambda: now[0])
    seconds = [2.0]
    statuses = ProcessCache(max_entries=10, seconds=lambda: seconds[0])
    statuses.put("old", "kept two seconds")
    seconds[0] = 5.0
    statuses.put("new", "kept five seconds")
    now[0] += 1.9
    assert statuses.get_many(["old", "new"]) == {"old": "kept two seconds", "new": "kept five seconds"}
    now[0] += 0.1
    assert statuses.get_many(["old", "new"]) == {"new": "kept five seconds"}
    assert statuses.get("old", "gone") == "gone"


def test_one_call_forgets_every_process_cache():
    first, second = ProcessCache(max_entries=1), ProcessCache(max_entries=1, seconds=lambda: 60)
    first.put("key", "value")
    second.put("key", "value")
    process_caches_clear()
    assert first.get("key") is None and second.get("key") is None
