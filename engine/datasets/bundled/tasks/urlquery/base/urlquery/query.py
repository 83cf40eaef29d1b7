"""Query strings from dicts: lists repeat the key, None leaves the key out."""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import urlencode, urlsplit, urlunsplit

Scalar = str | int | float | bool | None
Params = Mapping[str, Scalar | list[Scalar]]


def _pairs(params: Params) -> list[tuple[str, str]]:
    pairs = []
    for key, value in params.items():
        for item in value if isinstance(value, list) else [value]:
            if item is None:
                continue
            if isinstance(item, bool):
                item = "true" if item else "false"
            pairs.append((key, str(item)))
    return pairs


def build_query(params: Params) -> str:
    """``{"page": 2, "tag": ["x", "y"]}`` -> ``page=2&tag=x&tag=y``."""
    return urlencode(_pairs(params))


def with_query(url: str, params: Params) -> str:
    """``url`` with its query string replaced by ``build_query(params)``."""
    return urlunsplit(urlsplit(url)._replace(query=build_query(params)))
