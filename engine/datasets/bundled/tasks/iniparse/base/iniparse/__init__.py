"""A small, strict INI reader."""

from .parser import ParseError, parse

__all__ = ["ParseError", "parse"]
