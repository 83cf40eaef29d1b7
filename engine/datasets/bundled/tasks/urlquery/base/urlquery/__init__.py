"""Build URL query strings from Python values."""

from .query import build_query, with_query

__all__ = ["build_query", "with_query"]
