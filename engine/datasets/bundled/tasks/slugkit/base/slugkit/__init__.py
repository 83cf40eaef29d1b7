"""URL slugs from titles, transliterated to ASCII."""

from .slug import slugify

__all__ = ["slugify"]
