"""What one provider account can take: adaptive concurrency, pacing, and a consecutive-failure cap.

- :class:`AdaptiveConcurrency` is AIMD, as TCP does it: the number of requests in flight starts at the
  catalog's concurrency, halves when the provider answers 429, and grows back by one per window of
  successes. Only one halving per "generation" of requests: twenty requests that were all in flight
  when the provider started refusing halve the limit once, not twenty times. A Retry-After holds
  every new request of the account until it has passed, not just the one that got it.
- :class:`Pacer` spaces request starts to respect requests-per-minute.
- :class:`Breaker` counts consecutive failures; at the cap the account fails fast (infra) instead of
  burning the whole run's attempts against a dead endpoint, and lets one probe through per cooldown.
"""

from __future__ import annotations

import email.utils
import math
import random
import time
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC

import anyio

from ..core.errors import AttemptError
from .catalog import ModelEntry


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After header: delta-seconds or an HTTP date. None if absent/bad."""
    if not value or not value.strip():
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def backoff_delay(retry: int, base_s: float, cap_s: float) -> float:
    """Exponential backoff with "equal jitter": half fixed, half random, so retries spread out."""
    delay = min(cap_s, base_s * 2**retry)
    return delay / 2 + random.uniform(0, delay / 2)


class _Waiter:
    """A request waiting for its turn; ``woken`` is set when it should look again."""

    __slots__ = ("woken",)

    def __init__(self) -> None:
        self.woken = anyio.Event()


@dataclass
class Slot:
    """One request's place in the limiter; remembers the generation it started in."""

    generation: int


class AdaptiveConcurrency:
    """AIMD concurrency limit with a shared Retry-After hold.

    Requests wait first come, first served, and a freed slot wakes one waiter (the first). Taking a
    free slot with nobody waiting, and giving one back, never yields to the event loop: when a round
    of calls ends together, the next attempts' calls go out without queueing behind the finishing
    attempts' work for a lock (anyio's lock holds itself across a yield, so each taker and giver
    cost a pass of the loop's ready queue: 12 ms before a call went out in a round of 16).
    """

    def __init__(self, ceiling: int):
        self.ceiling = ceiling
        self.limit: float = float(ceiling)
        self.in_flight = 0
        self.held_until = 0.0
        self.generation = 0
        self.halvings = 0
        self._queue: deque[_Waiter] = deque()

    def _free(self) -> bool:
        return self.in_flight < max(1, int(self.limit)) and self.held_until <= time.monotonic()

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[Slot]:
        if self._queue or not self._free():
            await self._turn()
        self.in_flight += 1
        try:
            yield Slot(self.generation)
        finally:
            self.in_flight -= 1
            self._wake()

    async def _turn(self) -> None:
        """Wait until this request is first in the queue and a slot is free outside any hold."""
        waiter = _Waiter()
        self._queue.append(waiter)
        try:
            while not (self._queue[0] is waiter and self._free()):
                hold = self.held_until - time.monotonic()
                with anyio.move_on_after(hold if self._queue[0] is waiter and hold > 0 else math.inf):
                    await waiter.woken.wait()
                waiter.woken = anyio.Event()  # for the next wait: the loop looks again first
        finally:
            self._queue.remove(waiter)
            self._wake()  # the next in line may go too (or take this one's place, if it gave up)

    def _wake(self) -> None:
        if self._queue:
            self._queue[0].woken.set()

    def on_success(self) -> None:
        """Additive increase: about +1 per ``limit`` successes."""
        self.limit = min(float(self.ceiling), self.limit + 1.0 / self.limit)

    def on_rate_limit(self, slot: Slot, retry_after: float | None) -> None:
        """Multiplicative decrease, once per generation; hold new requests for Retry-After."""
        if slot.generation == self.generation:
            self.limit = max(1.0, self.limit / 2)
            self.generation += 1
            self.halvings += 1
        if retry_after:
            self.held_until = max(self.held_until, time.monotonic() + retry_after)


class Pacer:
    """Spaces request starts ``60 / requests_per_minute`` seconds apart (no limit when None)."""

    def __init__(self, requests_per_minute: float | None):
        self.interval = 60.0 / requests_per_minute if requests_per_minute else 0.0
        self._next = 0.0
        self._lock = anyio.Lock()

    async def wait(self) -> None:
        if not self.interval:
            return
        async with self._lock:
            now = time.monotonic()
            start = max(now, self._next)
            self._next = start + self.interval
        await anyio.sleep(start - now)


class Breaker:
    """Consecutive-failure cap: open after ``cap`` failures in a row, one probe per cooldown."""

    def __init__(self, account: str, cap: int, cooldown_s: float):
        self.account = account
        self.cap = cap
        self.cooldown_s = cooldown_s
        self.consecutive = 0
        self.opened_at: float | None = None
        self.last_error = ""

    def check(self) -> None:
        """Raise (infra) while open; after each cooldown let exactly one probe through."""
        if self.opened_at is None:
            return
        waited = time.monotonic() - self.opened_at
        if waited >= self.cooldown_s:
            self.opened_at = time.monotonic()  # this call is the probe; others keep failing fast
            return
        raise AttemptError(
            "infra",
            f"provider account {self.account!r} failed {self.consecutive} requests in a row (cap "
            f"{self.cap}; last: {self.last_error}); failing fast, next probe in "
            f"{self.cooldown_s - waited:.0f}s. Check that the endpoint is up and the key is valid.",
        )

    def success(self) -> None:
        self.consecutive = 0
        self.opened_at = None

    def failure(self, message: str) -> bool:
        """Count a failure; True when this one tripped the breaker (so the caller can alert once)."""
        self.consecutive += 1
        self.last_error = message[:200]
        if self.consecutive >= self.cap and self.opened_at is None:
            self.opened_at = time.monotonic()
            return True
        if self.opened_at is not None:
            self.opened_at = time.monotonic()  # a failed probe restarts the cooldown
        return False


class AccountLimits:
    """Everything shared by the models of one account."""

    def __init__(self, entry: ModelEntry):
        self.account = entry.account_name
        self.concurrency = AdaptiveConcurrency(entry.concurrency)
        self.pacer = Pacer(entry.requests_per_minute)
        self.breaker = Breaker(self.account, entry.retry.failure_cap, entry.retry.cooldown_s)

    @asynccontextmanager
    async def request(self) -> AsyncIterator[Slot]:
        """Wait for a concurrency slot, then for the pacer, then go."""
        async with self.concurrency.slot() as slot:
            await self.pacer.wait()
            yield slot
