"""A lazy name -> class registry for backends (agents, evaluators, sandboxes, model providers).

Backends are named by import path and imported only when asked for, so choosing the `gold` agent
never imports httpx, and choosing the local evaluator never imports docker.
"""

from __future__ import annotations

import importlib
from typing import Any

from .errors import ConfigError


class Registry:
    """Maps short names to "module:Class" paths and imports them on first use."""

    def __init__(self, kind: str, entries: dict[str, str]):
        self.kind = kind
        self._entries = dict(entries)

    def names(self) -> list[str]:
        return sorted(self._entries)

    def register(self, name: str, path: str) -> None:
        self._entries[name] = path

    def get(self, name: str) -> Any:
        try:
            path = self._entries[name]
        except KeyError:
            raise ConfigError(
                f"unknown {self.kind} {name!r}; expected one of: {', '.join(self.names())}",
                field=self.kind,
            ) from None
        module_name, _, attr = path.partition(":")
        return getattr(importlib.import_module(module_name), attr)
