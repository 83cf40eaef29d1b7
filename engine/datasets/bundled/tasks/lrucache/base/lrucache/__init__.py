"""A least-recently-used cache with a fixed capacity."""

from .cache import LRUCache

__all__ = ["LRUCache"]
