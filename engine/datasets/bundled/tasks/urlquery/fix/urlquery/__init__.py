"""Build URL query strings from Python values."""

from .query import build_query, encode_value, with_query

__all__ = ["build_query", "encode_value", "with_query"]
