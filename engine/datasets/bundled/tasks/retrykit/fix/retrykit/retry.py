"""Call a function until it succeeds, waiting longer after each failure."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

from .backoff import delays

T = TypeVar("T")


def retry(
    func: Callable[[], T],
    *,
    retries: int = 3,
    on: tuple[type[BaseException], ...] = (Exception,),
    base: float = 0.1,
    max_delay: float | None = None,
    deadline: float | None = None,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> T:
    """Call ``func``; when it raises one of ``on``, wait and call it again, up to ``retries`` times.

    ``deadline`` bounds the whole call, in seconds: when waiting again would end after it, the
    last error is raised instead.
    """
    started = clock()
    for delay in delays(retries, base=base, max_delay=max_delay):
        try:
            return func()
        except on:
            if deadline is not None and clock() - started + delay > deadline:
                raise
            sleep(delay)
    return func()
