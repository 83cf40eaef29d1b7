"""Turn titles into URL slugs."""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path

_TABLE_PATH = Path(__file__).with_name("translit.json")


@cache
def _table() -> dict[str, str]:
    """Letters spelled out rather than stripped, e.g. German umlauts."""
    return json.loads(_TABLE_PATH.read_text(encoding="utf-8"))


def slugify(text: str, separator: str = "-", max_length: int | None = None) -> str:
    """Lower-case ``text``, transliterate it to ASCII and join its words with ``separator``."""
    text = "".join(_table().get(char, char) for char in text.lower())
    words = re.findall(r"[a-z0-9]+", text)
    slug = separator.join(words)
    if max_length is not None:
        slug = slug[:max_length].rstrip(separator)
    return slug
