"""Parse and order semantic versions."""

from .compare import compare, sort_versions
from .parse import Version, parse

__all__ = ["Version", "compare", "parse", "sort_versions"]
