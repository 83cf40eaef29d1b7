"""Query strings from dicts: lists repeat the key, None leaves the key out.

Encoding follows RFC 3986 (a space is ``%20``), not HTML forms (where it is ``+``).
"""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import quote, urlsplit, urlunsplit

Scalar = str | int | float | bool | None
Params = Mapping[str, Scalar | list[Scalar]]

#: Characters RFC 3986 never escapes besides letters and digits.
_UNRESERVED = "-._~"


def encode_value(value: str | int | float | bool) -> str:
    """Percent-encode one value exactly as :func:`build_query` does (booleans as true/false)."""
    if isinstance(value, bool):
        value = "true" if value else "false"
    return quote(str(value), safe=_UNRESERVED)


def _pairs(params: Params) -> list[tuple[str, str | int | float | bool]]:
    pairs = []
    for key, value in params.items():
        for item in value if isinstance(value, list) else [value]:
            if item is not None:
                pairs.append((key, item))
    return pairs


def build_query(params: Params) -> str:
    """``{"page": 2, "tag": ["x", "y"]}`` -> ``page=2&tag=x&tag=y``."""
    return "&".join(f"{encode_value(key)}={encode_value(item)}" for key, item in _pairs(params))


def with_query(url: str, params: Params) -> str:
    """``url`` with its query string replaced by ``build_query(params)``."""
    return urlunsplit(urlsplit(url)._replace(query=build_query(params)))
