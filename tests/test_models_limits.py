"""The per-account limits on their own: Retry-After parsing, backoff, AIMD, pacing, the failure cap."""

from __future__ import annotations

import email.utils
import time

import anyio
import pytest

from engine.core.errors import AttemptError
from engine.models.limits import (
    AdaptiveConcurrency,
    Breaker,
    Pacer,
    Slot,
    backoff_delay,
    parse_retry_after,
)


def test_retry_after_in_seconds_or_as_an_http_date():
    assert parse_retry_after("7") == 7.0
    assert parse_retry_after("1.5") == 1.5
    now = 1_700_000_000.0
    assert parse_retry_after(email.utils.formatdate(now + 30, usegmt=True), now=now) == pytest.approx(30)
    assert parse_retry_after(email.utils.formatdate(now - 30, usegmt=True), now=now) == 0.0
    assert parse_retry_after(None) is None and parse_retry_after("soon") is None


def test_backoff_is_exponential_jittered_and_capped():
    for retry in range(6):
        cap = min(8.0, 1.0 * 2**retry)
        delays = [backoff_delay(retry, 1.0, 8.0) for _ in range(50)]
        assert all(cap / 2 <= d <= cap for d in delays)
        assert len(set(delays)) > 1


def test_aimd_halves_once_per_generation_and_regrows_to_the_ceiling():
    limiter = AdaptiveConcurrency(8)
    wave = [limiter.generation] * 5  # five requests in flight when the 429s came
    for generation in wave:
        limiter.on_rate_limit(Slot(generation), None)
    assert limiter.limit == 4.0 and limiter.halvings == 1
    limiter.on_rate_limit(Slot(limiter.generation), None)  # a request started after the first halving
    assert limiter.limit == 2.0
    successes = 0
    while limiter.limit < 8.0:
        limiter.on_success()
        successes += 1
    assert limiter.limit == 8.0 and 20 <= successes <= 40  # additive: about `limit` successes per +1


async def test_limiter_caps_in_flight_and_holds_everyone_for_retry_after():
    limiter = AdaptiveConcurrency(2)
    peak = 0

    async def work() -> None:
        nonlocal peak
        async with limiter.slot():
            peak = max(peak, limiter.in_flight)
            await anyio.sleep(0.02)

    async with anyio.create_task_group() as tg:
        for _ in range(6):
            tg.start_soon(work)
    assert peak == 2 and limiter.in_flight == 0
    async with limiter.slot() as slot:
        limiter.on_rate_limit(slot, 0.3)
    began = time.monotonic()
    async with limiter.slot():
        pass
    assert time.monotonic() - began >= 0.28


async def test_pacer_spaces_request_starts():
    pacer = Pacer(requests_per_minute=600)  # one every 0.1 s
    starts = []
    for _ in range(4):
        await pacer.wait()
        starts.append(time.monotonic())
    gaps = [b - a for a, b in zip(starts, starts[1:], strict=False)]
    assert all(g >= 0.09 for g in gaps)


def test_breaker_opens_at_the_cap_and_lets_one_probe_through_per_cooldown():
    breaker = Breaker("acct", cap=3, cooldown_s=0.2)
    assert [breaker.failure("boom") for _ in range(3)] == [False, False, True]
    with pytest.raises(AttemptError, match="failed 3 requests in a row") as caught:
        breaker.check()
    assert caught.value.error_class == "infra"
    time.sleep(0.21)
    breaker.check()  # the probe
    with pytest.raises(AttemptError):
        breaker.check()  # everyone else still fails fast
    breaker.success()
    breaker.check()
    assert breaker.consecutive == 0


async def test_a_free_slot_is_taken_and_given_back_without_a_pass_of_the_event_loop():
    # When a round of calls ends together, the next attempts' calls must not queue behind the
    # finishing attempts' work: a lock taken and given back with a yield cost 12 ms per round of 16.
    limiter = AdaptiveConcurrency(4)
    order: list[str] = []

    async def other() -> None:
        order.append("other task")

    async with anyio.create_task_group() as tg:
        tg.start_soon(other)  # ready: it runs at the first yield of this task
        async with limiter.slot():
            order.append("in the slot")
        order.append("slot given back")
    assert order == ["in the slot", "slot given back", "other task"]


async def test_waiters_go_first_come_first_served_one_per_freed_slot_and_a_cancelled_one_passes_its_turn():
    limiter = AdaptiveConcurrency(1)
    order: list[str] = []
    release = anyio.Event()

    async def holder() -> None:
        async with limiter.slot():
            await release.wait()

    async def waiter(name: str) -> None:
        async with limiter.slot():
            order.append(name)
            assert limiter.in_flight == 1
            await anyio.sleep(0.01)

    async with anyio.create_task_group() as tg:
        tg.start_soon(holder)
        await anyio.sleep(0.01)
        tg.start_soon(waiter, "first")
        async with anyio.create_task_group() as gives_up:
            gives_up.start_soon(waiter, "cancelled")
            await anyio.sleep(0.01)
            gives_up.cancel_scope.cancel()  # gives up while queued: the others keep their places
        tg.start_soon(waiter, "second")
        await anyio.sleep(0.01)
        assert order == [] and len(limiter._queue) == 2
        release.set()
    assert order == ["first", "second"] and limiter.in_flight == 0 and not limiter._queue
