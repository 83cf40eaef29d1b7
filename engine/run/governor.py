"""The CPU governor: when may a new evaluation start?

Evaluations are CPU-bound test runs. The governor measures host CPU with psutil (an exponential
moving average over a few samples) and admits a new evaluation only while the busy cores are under
the admission threshold. The busy cores are the measured ones plus, for each evaluation that is
still running and started in the last ``settle_s`` seconds (its load has not shown in the samples
yet), what one running evaluation has been measured to take (at first one whole core), fading out
linearly over those seconds as its load shows. An evaluation that already finished counts for
nothing, so short evaluations do not serialise behind their own starts.

The threshold is ``cpu_target`` of all cores, corrected by the CPU the host has lacked or had too
much of while the CPU rule held evaluations back (a clamped integral of target minus measured, over
``CREDIT_SAMPLES`` samples). Evaluations cannot be cut in pieces: on two cores, whole-core test runs
give either 50% or 100%, so 80% is a mean, reached by running two part of the time. The correction
is what holds that mean: without it, the lag of the measurement and of the settle time decided it,
from 52% (one-second evaluations) to 90% (six-second ones). It accumulates only while evaluations
wait for the CPU rule (not for a floor or the cap), so an idle or capped lane stores no credit.
Whatever the credit, a new evaluation must fit: the running ones and it, at the measured cores
each, within all cores.

A freed slot wakes one waiter (the longest waiting); a new sample wakes them all. It also keeps
floors for available memory and free disk, and a hard cap on concurrent evaluations. When nothing
is running it admits one evaluation even on a busy host, so that a run always makes progress; the
floors still hold.
"""

from __future__ import annotations

import itertools
import os
import shutil
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import anyio
import psutil

from ..core.config import GovernorConfig

#: The least a running evaluation is assumed to take, however idle its samples look.
MIN_CORES_PER_EVAL = 0.1
#: The CPU credit's horizon in samples: a lack of one core for this many samples moves the
#: admission threshold by one core, as far as the clamp allows.
CREDIT_SAMPLES = 4


@dataclass(frozen=True)
class HostSample:
    cpu_percent: float  # whole host, 0-100
    memory_available_mb: float
    disk_free_mb: float


@dataclass(frozen=True)
class GovernorSnapshot:
    cpu_percent: float
    memory_available_mb: float
    disk_free_mb: float
    running: int
    waiting: int
    cores: int
    target_cores: float
    blocked_by: str


def host_sample(disk_path: Path) -> HostSample:
    """Read the host: CPU since the previous call, available memory, free disk under disk_path."""
    probe = disk_path
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    return HostSample(
        cpu_percent=psutil.cpu_percent(interval=None),
        memory_available_mb=psutil.virtual_memory().available / 2**20,
        disk_free_mb=shutil.disk_usage(probe).free / 2**20,
    )


class Governor:
    """Admits evaluations against measured CPU, memory and disk."""

    def __init__(
        self,
        config: GovernorConfig,
        disk_path: Path,
        *,
        sampler: Callable[[], HostSample] | None = None,
        cores: int | None = None,
    ):
        self.config = config
        self.cores = cores or os.cpu_count() or 1
        self.target_cores = config.cpu_target * self.cores
        self.max_running = config.max_concurrent_evals or self.cores
        self._sampler = sampler or (lambda: host_sample(disk_path))
        self._cpu_ewma: float | None = None
        self._last = self._sampler()
        self._sampled_at = time.monotonic()
        #: Core-seconds of CPU the host lacked (+) or had beyond the target (-) while evaluations
        #: waited; divided by the horizon, it moves the admission threshold (clamped).
        self._credit = 0.0
        self._credit_s = CREDIT_SAMPLES * config.sample_interval_s
        #: Cores one running evaluation takes, as measured (EWMA of busy cores / running); it starts
        #: at one whole core and never goes under MIN_CORES_PER_EVAL.
        self._cores_per_eval = 1.0
        #: Start time of each running evaluation, by its ticket.
        self._starts: dict[int, float] = {}
        self._tickets = itertools.count()
        #: One event per waiting evaluation, longest waiting first.
        self._waiters: deque[anyio.Event] = deque()
        self.blocked_by = ""

    @property
    def _running(self) -> int:
        return len(self._starts)

    @property
    def _waiting(self) -> int:
        return len(self._waiters)

    # -- measurement ---------------------------------------------------------------------------

    def sample(self) -> HostSample:
        self._last = self._sampler()
        now = time.monotonic()
        elapsed, self._sampled_at = now - self._sampled_at, now
        alpha = 0.5
        cpu = self._last.cpu_percent
        if self._waiters and self._starts and not self._hard_limit():  # the CPU rule held work back
            lacked = (self.target_cores - cpu / 100 * self.cores) * min(elapsed, 2 * self.config.sample_interval_s)
            limit = self.cores * self._credit_s
            self._credit = max(-limit, min(limit, self._credit + lacked))
        self._cpu_ewma = cpu if self._cpu_ewma is None else alpha * cpu + (1 - alpha) * self._cpu_ewma
        if self._starts:
            measured = min(1.0, max(MIN_CORES_PER_EVAL, cpu / 100 * self.cores / len(self._starts)))
            self._cores_per_eval = alpha * measured + (1 - alpha) * self._cores_per_eval
        for waiter in self._waiters:  # the host changed: every waiter looks again
            waiter.set()
        return self._last

    async def run(self) -> None:
        """Sample forever; run it in the scheduler's task group."""
        while True:
            await anyio.sleep(self.config.sample_interval_s)
            self.sample()

    def snapshot(self) -> GovernorSnapshot:
        return GovernorSnapshot(
            cpu_percent=round(self._cpu_ewma if self._cpu_ewma is not None else self._last.cpu_percent, 1),
            memory_available_mb=round(self._last.memory_available_mb),
            disk_free_mb=round(self._last.disk_free_mb),
            running=self._running,
            waiting=self._waiting,
            cores=self.cores,
            target_cores=self.target_cores,
            blocked_by=self.blocked_by,
        )

    # -- admission -----------------------------------------------------------------------------

    @property
    def threshold(self) -> float:
        """Busy cores under which a new evaluation may start: the target, moved by the credit."""
        return self.target_cores + (self._credit / self._credit_s if self._credit_s else 0.0)

    def _hard_limit(self) -> str:
        """The floors and the cap: empty when none of them holds a new evaluation back."""
        cfg = self.config
        if self._last.memory_available_mb < cfg.min_free_memory_mb:
            return f"memory {self._last.memory_available_mb:.0f} MB below floor {cfg.min_free_memory_mb} MB"
        if self._last.disk_free_mb < cfg.min_free_disk_mb:
            return f"free disk {self._last.disk_free_mb:.0f} MB below floor {cfg.min_free_disk_mb} MB"
        if self._running >= self.max_running:
            return f"{self._running} evaluations running (cap {self.max_running})"
        return ""

    def _why_not(self) -> str:
        """Empty when a new evaluation may start now, otherwise the reason it may not."""
        cfg = self.config
        if reason := self._hard_limit():
            return reason
        if self._running == 0:
            return ""
        if (self._running + 1) * self._cores_per_eval > self.cores + 1e-9:
            return (f"CPU: {self._running} evaluations of {self._cores_per_eval:.1f} cores each, "
                    f"one more would not fit in {self.cores} cores")
        unseen = 0.0
        if cfg.settle_s > 0:
            now = time.monotonic()
            unseen = sum(max(0.0, 1 - (now - started) / cfg.settle_s) for started in self._starts.values())
        cpu = self._cpu_ewma if self._cpu_ewma is not None else self._last.cpu_percent
        busy = cpu / 100 * self.cores + unseen * self._cores_per_eval
        threshold = self.threshold
        if busy >= threshold:
            return f"CPU {busy:.1f} of {self.cores} cores busy (target {threshold:.1f})"
        return ""

    @asynccontextmanager
    async def eval_slot(self, on_wait: Callable[[str], None] | None = None) -> AsyncIterator[None]:
        """Wait until an evaluation may start, hold the slot for its duration, then release it."""
        reason = "" if self._waiters else self._why_not()
        if self._waiters or reason:  # wait (behind those already waiting) until admitted
            await self._wait(on_wait)
        else:
            self.blocked_by = ""
        ticket = next(self._tickets)
        self._starts[ticket] = time.monotonic()
        try:
            yield
        finally:
            del self._starts[ticket]
            # One slot freed: the longest waiting that is not already looking looks again (what
            # admits one waiter admits any, so if it cannot start, none can).
            next((w for w in self._waiters if not w.is_set()), anyio.Event()).set()

    async def _wait(self, on_wait: Callable[[str], None] | None) -> None:
        waiter = anyio.Event()
        self._waiters.append(waiter)
        try:
            while True:
                reason = self._why_not()
                self.blocked_by = reason
                if not reason:
                    break
                if on_wait is not None:
                    on_wait(reason)
                with anyio.move_on_after(self.config.sample_interval_s):
                    await waiter.wait()
                if waiter.is_set():
                    self._waiters[self._waiters.index(waiter)] = waiter = anyio.Event()
        finally:
            self._waiters.remove(waiter)
