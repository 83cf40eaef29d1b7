"""Exponential backoff delays, optionally capped."""

from __future__ import annotations

from collections.abc import Iterator


def delays(
    retries: int, base: float = 0.1, factor: float = 2.0, max_delay: float | None = None
) -> Iterator[float]:
    """The wait before each of ``retries`` retries: base, base*factor, ... up to ``max_delay``."""
    for attempt in range(retries):
        delay = base * factor**attempt
        yield delay if max_delay is None else min(delay, max_delay)
