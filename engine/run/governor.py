"""The CPU governor: when may a new evaluation start?

Evaluations are CPU-bound test runs. The governor measures host CPU with psutil (an exponential
moving average over a few samples) and admits a new evaluation only while the busy cores, counting
one core for each evaluation started in the last ``settle_s`` seconds (its load has not shown yet),
are under ``cpu_target`` of all cores. It also keeps floors for available memory and free disk, and a
hard cap on concurrent evaluations. When nothing is running it admits one evaluation even on a busy
host, so that a run always makes progress; the floors still hold.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import anyio
import psutil

from ..core.config import GovernorConfig


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
        self._running = 0
        self._waiting = 0
        self._recent_starts: list[float] = []
        self._changed = anyio.Event()
        self.blocked_by = ""

    # -- measurement ---------------------------------------------------------------------------

    def sample(self) -> HostSample:
        self._last = self._sampler()
        alpha = 0.5
        cpu = self._last.cpu_percent
        self._cpu_ewma = cpu if self._cpu_ewma is None else alpha * cpu + (1 - alpha) * self._cpu_ewma
        self._wake()
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

    def _why_not(self) -> str:
        """Empty when a new evaluation may start now, otherwise the reason it may not."""
        cfg = self.config
        if self._last.memory_available_mb < cfg.min_free_memory_mb:
            return f"memory {self._last.memory_available_mb:.0f} MB below floor {cfg.min_free_memory_mb} MB"
        if self._last.disk_free_mb < cfg.min_free_disk_mb:
            return f"free disk {self._last.disk_free_mb:.0f} MB below floor {cfg.min_free_disk_mb} MB"
        if self._running >= self.max_running:
            return f"{self._running} evaluations running (cap {self.max_running})"
        if self._running == 0:
            return ""
        now = time.monotonic()
        self._recent_starts = [t for t in self._recent_starts if now - t < cfg.settle_s]
        cpu = self._cpu_ewma if self._cpu_ewma is not None else self._last.cpu_percent
        busy = cpu / 100 * self.cores + len(self._recent_starts)
        if busy >= self.target_cores:
            return f"CPU {busy:.1f} of {self.cores} cores busy (target {self.target_cores:.1f})"
        return ""

    def _wake(self) -> None:
        self._changed.set()
        self._changed = anyio.Event()

    @asynccontextmanager
    async def eval_slot(self, on_wait: Callable[[str], None] | None = None) -> AsyncIterator[None]:
        """Wait until an evaluation may start, hold the slot for its duration, then release it."""
        self._waiting += 1
        try:
            while True:
                reason = self._why_not()
                self.blocked_by = reason
                if not reason:
                    break
                if on_wait is not None:
                    on_wait(reason)
                changed = self._changed
                with anyio.move_on_after(self.config.sample_interval_s):
                    await changed.wait()
        finally:
            self._waiting -= 1
        self._running += 1
        self._recent_starts.append(time.monotonic())
        try:
            yield
        finally:
            self._running -= 1
            self._wake()
