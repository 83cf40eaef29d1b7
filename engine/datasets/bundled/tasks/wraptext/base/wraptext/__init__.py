"""Greedy word wrapping for plain-text reports."""

from .wrap import wrap

__all__ = ["wrap"]
