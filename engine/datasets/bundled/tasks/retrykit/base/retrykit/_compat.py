"""Fallbacks for interpreters without time.monotonic (Python < 3.3)."""

try:
    from time import monotonic
except ImportError:  # pragma: no cover
    from time import time as monotonic

__all__ = ["monotonic"]
