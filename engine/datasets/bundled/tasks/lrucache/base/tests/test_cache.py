import pytest

from lrucache import LRUCache


class TestBasics:
    def test_put_then_get(self):
        cache = LRUCache(2)
        cache.put("a", 1)
        assert cache.get("a") == 1

    def test_missing_key_returns_default(self):
        assert LRUCache(1).get("nope", "default") == "default"

    def test_len_counts_items(self):
        cache = LRUCache(3)
        cache.put("a", 1)
        cache.put("b", 2)
        assert len(cache) == 2

    def test_capacity_must_be_positive(self):
        with pytest.raises(ValueError):
            LRUCache(0)


class TestEviction:
    def test_oldest_insert_is_evicted(self):
        cache = LRUCache(2)
        for key in "abc":
            cache.put(key, key)
        assert "a" not in cache
        assert "b" in cache and "c" in cache

    def test_contains_does_not_count_as_use(self):
        cache = LRUCache(2)
        cache.put("a", 1)
        cache.put("b", 2)
        assert "a" in cache
        cache.put("c", 3)
        assert "a" not in cache
