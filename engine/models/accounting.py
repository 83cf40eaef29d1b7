"""The accounting wrapper every provider call goes through.

:class:`AccountedModel` is the Model the agents get. For each call it checks, before anything is
sent, the account's breaker, its daily call quota (counted in the store, so a restart does not reset
it) and the run budget (the next call's worst case, from the prompt's token count and max_tokens,
must fit under what is left); then it takes a slot from the account's limiter, sends exactly one
request through the provider, and records it, success or failure, exactly once: a row in
``llm_calls``, an :class:`LLMCall` event, and the attempt's usage. Failures the provider classified as
transient (429, 5xx, timeouts, dropped connections, truncated streams) are retried with jittered
exponential backoff or the provider's Retry-After; when the retries are spent the call raises
:class:`AttemptError` with the last class, so the scheduler retries only what is retryable.

A stop for budget or quota raises :class:`SpendLimitReached` (error class ``budget``) with an
:class:`Alert` that names the limit and the spend; the scheduler then starts no new attempts.
"""

from __future__ import annotations

import math
import time
from collections.abc import Awaitable, Callable
from typing import Any, Unpack

import anyio

from ..core.errors import RETRYABLE, AttemptError
from ..core.events import Alert, AlertLevel, Event, LLMCall
from ..store import Store
from .base import (
    CallContext,
    Completion,
    Message,
    Model,
    ProviderError,
    Sampling,
    SpendLimitReached,
    Usage,
)
from .cache import Hit, ResponseCache, cache_key
from .catalog import ModelEntry
from .limits import AccountLimits, backoff_delay
from .tokens import count_messages
from .tokens import warm as warm_tokenizer

Emit = Callable[[Event], Awaitable[None]]

#: Prompt counts are cl100k estimates of another model's tokenizer; budget checks pad them by this,
#: on top of what the provider was seen to count (:meth:`Ledger.calibrate`).
PROMPT_ESTIMATE_MARGIN = 1.15


def usd(amount: float) -> str:
    """Dollars for messages: cents for large amounts, enough digits to see a small one move."""
    return f"${amount:.2f}" if amount >= 10 else f"${amount:.4f}"


class Ledger:
    """Run-wide bookkeeping shared by every model of a run: the budget, quotas, records and alerts."""

    def __init__(
        self,
        store: Store,
        *,
        run_id: str | None = None,
        budget_usd: float | None = None,
        emit: Emit | None = None,
        redact: Callable[[str], str] | None = None,
    ):
        self.store = store
        self.run_id = run_id
        self.budget_usd = budget_usd
        self.redact = redact or (lambda text: text)
        self._emit = emit
        self._reserved = 0.0
        self._in_flight: dict[str, int] = {}
        self._lock = anyio.Lock()
        self._alerted: set[str] = set()
        #: Per model: how many tokens its provider counted for each one estimated here, at the most
        #: (input), and how far past the max_tokens sent its replies ran (output).
        self._ratios: dict[str, tuple[float, float]] = {}
        self.budget_stopped = False

    async def emit(self, event: Event) -> None:
        if not event.run_id and self.run_id:
            event.run_id = self.run_id
        if self._emit is not None:
            await self._emit(event)
        else:
            await self.store.append(event)

    async def alert(self, level: AlertLevel, message: str, instance_id: str | None = None) -> None:
        await self.emit(Alert(level=level, message=self.redact(message), instance_id=instance_id))

    async def alert_once(self, key: str, level: AlertLevel, message: str, instance_id: str | None = None) -> None:
        if key not in self._alerted:
            self._alerted.add(key)
            await self.alert(level, message, instance_id)

    async def admit(self, entry: ModelEntry, prompt_tokens: int, max_tokens: int | None, ctx: CallContext) -> float:
        """Check quota and budget for one request and reserve its worst case; returns the reservation."""
        account = entry.account_name
        if entry.daily_call_quota is None and self.budget_usd is None:
            # Nothing to check against the store, so no other request's check to wait for (models
            # of one account share its quota): a lock here cost a pass of the loop's ready queue.
            self._in_flight[account] = self._in_flight.get(account, 0) + 1
            return 0.0
        async with self._lock:
            if entry.daily_call_quota is not None:
                day = time.strftime("%Y-%m-%d", time.gmtime())
                used = await self.store.calls_today(account, day) + self._in_flight.get(account, 0)
                if used >= entry.daily_call_quota:
                    message = (
                        f"daily call quota reached: {account} allows {entry.daily_call_quota} calls per UTC day "
                        f"and {used} were made on {day} (counted in the store); it resets at 00:00 UTC, or raise "
                        f"daily_call_quota for {entry.id} in config/models.yaml"
                    )
                    await self._stop(f"quota:{account}:{day}", message, ctx)
            worst = 0.0
            if self.budget_usd is not None:
                estimate = self.worst_case(entry, prompt_tokens, max_tokens)
                if estimate is None:
                    await self._stop(f"budget-unpriced:{entry.id}", (
                        f"run budget {usd(self.budget_usd)} cannot be enforced: model {entry.id} has no price in "
                        "config/models.yaml, so no call is made; add price: {input: ..., output: ...} or unset "
                        "run.budget_usd"
                    ), ctx)
                worst = estimate or 0.0
                spent = await self.store.run_spend(self.run_id) if self.run_id else 0.0
                if spent + self._reserved + worst > self.budget_usd:
                    await self._stop("budget", (
                        f"run budget {usd(self.budget_usd)} reached: spent {usd(spent)}"
                        + (f" plus {usd(self._reserved)} in flight" if self._reserved else "")
                        + f"; the next call could cost up to {usd(worst)}, so no new model calls are made"
                    ), ctx)
                self._reserved += worst
            self._in_flight[account] = self._in_flight.get(account, 0) + 1
        return worst

    def worst_case(self, entry: ModelEntry, prompt_tokens: int, max_tokens: int | None) -> float | None:
        """The most the next call could cost, counting tokens as this model's provider was seen to."""
        input_ratio, output_ratio = self._ratios.get(entry.id, (1.0, 1.0))
        output = math.ceil(max_tokens * output_ratio) if max_tokens else None
        return entry.worst_case_cost(math.ceil(prompt_tokens * input_ratio * PROMPT_ESTIMATE_MARGIN), output)

    def calibrate(self, entry: ModelEntry, prompt_tokens: int, max_tokens: int | None, usage: Usage) -> None:
        """Learn from a provider's own counts. A provider that counts three times the local estimate
        (another tokenizer, a hidden system prompt) once took a $0.05 budget to $0.0506: after its
        first reply, every worst case is computed with its ratio, so the budget holds. Called with
        a run budget only, the one thing the ratios serve (the count it needs is the budget's)."""
        if usage.estimated:
            return
        input_ratio, output_ratio = self._ratios.get(entry.id, (1.0, 1.0))
        if prompt_tokens > 0:
            input_ratio = max(input_ratio, usage.input_tokens / prompt_tokens)
        if max_tokens:
            output_ratio = max(output_ratio, usage.output_tokens / max_tokens)
        self._ratios[entry.id] = (input_ratio, output_ratio)

    async def _stop(self, key: str, message: str, ctx: CallContext) -> None:
        self.budget_stopped = True
        await self.alert_once(key, "error", message, ctx.instance_id)
        raise SpendLimitReached(message)

    def release(self, entry: ModelEntry, reserved: float) -> None:
        self._reserved = max(0.0, self._reserved - reserved)
        self._in_flight[entry.account_name] -= 1

    async def record(
        self,
        entry: ModelEntry,
        ctx: CallContext,
        *,
        completion: Completion | None,
        error_class: str | None,
        latency_s: float,
        hit: Hit | None = None,
    ) -> None:
        """One row, one event and the attempt's usage for one request (or one reply the cache
        gave: ``hit``). Shielded: never half-recorded."""
        usage = completion.usage if completion else Usage()
        cost = completion.cost_usd if completion else 0.0
        run_id = ctx.run_id or self.run_id
        fields: dict[str, Any] = dict(
            instance_id=ctx.instance_id, attempt=ctx.attempt, model_id=entry.id, provider=entry.account_name,
            input_tokens=usage.input_tokens, output_tokens=usage.output_tokens, cached_tokens=usage.cached_tokens,
            estimated=usage.estimated, cost_usd=cost, latency_s=latency_s,
            ttft_s=completion.ttft_s if completion else None,
            status="ok" if completion else "error", error_class=error_class,
        )
        if hit is not None:
            fields.update(cache_hit=True, saved_usd=hit.saved_usd, original_latency_s=hit.completion.latency_s)
        with anyio.CancelScope(shield=True):
            # The row, the attempt's counters and the event: one write; the emit only shows it.
            stored = await self.store.add_llm_call(run_id=run_id, event=LLMCall(run_id=run_id or "", **fields), **fields)
            if stored is not None:
                await self.emit(stored)
            if completion is not None and cost is None:
                await self.alert_once(f"unpriced:{entry.id}", "warning", (
                    f"model {entry.id} has no price in config/models.yaml: its calls are recorded with an "
                    "unknown cost (null), not $0; add price: {input: ..., output: ...}"
                ), ctx.instance_id)


class AccountedModel:
    """A Model that retries, limits, budgets and records. What agents receive as ``model``."""

    def __init__(
        self, inner: Model, entry: ModelEntry, limits: AccountLimits, ledger: Ledger, cache: ResponseCache | None = None
    ):
        self.inner = inner
        self.entry = entry
        self.model_id = entry.id
        self.limits = limits
        self.ledger = ledger
        self.cache = cache

    async def complete(
        self, messages: list[Message], *, context: CallContext | None = None, **sampling: Unpack[Sampling]
    ) -> Completion:
        ctx = context or CallContext(run_id=self.ledger.run_id)
        # Counted only when a budget needs the call's worst case (and, after the call, to learn how
        # the provider counts: Ledger.calibrate). Without a budget, tokens are counted only for a
        # provider that reports none, whose replies are estimated: the tokenizer (about 0.15 s of
        # CPU) then loads in a thread while the first call waits, not on the way to it.
        prompt_tokens = count_messages(messages) if self.ledger.budget_usd is not None else None
        if prompt_tokens is None and not getattr(self.inner, "reports_usage", False):
            warm_tokenizer()
        cap = self.entry.max_output_tokens
        max_tokens = sampling.get("max_tokens")
        if cap is not None:  # the catalog's output limit is sent on every request, not only assumed
            max_tokens = cap if max_tokens is None else min(max_tokens, cap)
        sampling = {**sampling, "max_tokens": max_tokens}
        key = cache_key(self.entry, messages, sampling, ctx.attempt) if self.cache is not None else None
        if key is not None and (replay := await self._replay(key, ctx)) is not None:
            return replay
        policy = self.entry.retry
        retry = 0
        while True:
            try:
                self.limits.breaker.check()
                completion = await self._request(messages, prompt_tokens, ctx, sampling)
                if self.cache is not None and key is not None:
                    await self.cache.put(key, completion)
                return completion
            except ProviderError as exc:
                message = self.ledger.redact(str(exc))
                wait = exc.retry_after if exc.retry_after is not None else backoff_delay(
                    retry, policy.backoff_s, policy.backoff_max_s
                )
                if exc.retry_after is not None and exc.retry_after > policy.max_retry_after_s:
                    raise AttemptError(exc.error_class, (
                        f"{self.model_id}: provider asked to wait {exc.retry_after:.0f}s, more than "
                        f"retry.max_retry_after_s ({policy.max_retry_after_s:.0f}s): {message}"
                    )) from None
                if not exc.retryable or exc.error_class not in RETRYABLE or retry >= policy.max_retries:
                    tries = f" after {retry + 1} tries" if retry else ""
                    raise AttemptError(exc.error_class, f"{self.model_id}{tries}: {message}") from None
                retry += 1
                await anyio.sleep(wait)
            except SpendLimitReached:
                raise
            except AttemptError as exc:  # the breaker, or a scripted failure
                raise AttemptError(exc.error_class, self.ledger.redact(str(exc))) from None

    async def _replay(self, key: str, ctx: CallContext) -> Completion | None:
        """The cache's reply to the request ``key`` names, recorded as a call that cost nothing;
        None on a miss."""
        assert self.cache is not None
        began = time.monotonic()
        hit = await self.cache.get(key, self.entry)
        if hit is None:
            return None
        replay = hit.completion.model_copy(update={"cost_usd": 0.0, "latency_s": time.monotonic() - began})
        await self.ledger.record(self.entry, ctx, completion=replay, error_class=None,
                                 latency_s=replay.latency_s, hit=hit)  # fmt: skip
        return replay

    async def _request(
        self, messages: list[Message], prompt_tokens: int | None, ctx: CallContext, sampling: Sampling
    ) -> Completion:
        """Exactly one request, recorded exactly once whatever happens to it."""
        max_tokens = sampling.get("max_tokens")
        reserved = await self.ledger.admit(self.entry, prompt_tokens or 0, max_tokens, ctx)
        completion: Completion | None = None
        error_class: str | None = None
        sent = False
        began = time.monotonic()
        try:
            async with self.limits.request() as slot:
                began, sent = time.monotonic(), True
                try:
                    completion = await self.inner.complete(messages, context=ctx, **sampling)
                except AttemptError as exc:
                    error_class = exc.error_class
                    if error_class == "rate_limit":
                        self.limits.concurrency.on_rate_limit(slot, getattr(exc, "retry_after", None))
                    if error_class != "model_format" and self.limits.breaker.failure(self.ledger.redact(str(exc))):
                        await self.ledger.alert(
                            "error",
                            f"provider account {self.limits.account!r} failed {self.limits.breaker.consecutive} "
                            f"requests in a row; it now fails fast (infra) for {self.entry.retry.cooldown_s:.0f}s "
                            f"between probes. Last error: {self.ledger.redact(str(exc))[:200]}",
                            ctx.instance_id,
                        )
                    raise
                except Exception:
                    error_class = "infra"
                    raise
                else:
                    self.limits.concurrency.on_success()
                    self.limits.breaker.success()
                    if prompt_tokens is not None and not completion.usage.estimated:  # a budget's
                        self.ledger.calibrate(self.entry, prompt_tokens, max_tokens, completion.usage)
                    return completion
        finally:
            self.ledger.release(self.entry, reserved)
            if sent:  # a call cancelled while waiting for its slot never reached the provider
                await self.ledger.record(
                    self.entry, ctx, completion=completion, error_class=error_class,
                    latency_s=completion.latency_s if completion else time.monotonic() - began,
                )

    async def aclose(self) -> None:
        await self.inner.aclose()  # type: ignore[attr-defined]
        if self.cache is not None:
            self.cache.close()  # reopened by a later call, if any
