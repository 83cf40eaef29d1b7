"""Admission when evaluations run on a Ray cluster (``run.executor: ray``).

Ray's scheduler places each evaluation on a node with room for its ``ray.eval_cpus`` and
``ray.eval_memory_mb``; the local governor's CPU sampling says nothing about those nodes. What stays
here is how many evaluations are in flight: as many as the cluster's CPUs hold at ``ray.eval_cpus``
each (measured every 2 s, so a node that joins or leaves changes it), so an instance the TUI shows
"evaluating" is running on a node rather than queued inside Ray. Waiters start in arrival order.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio

from .governor import GovernorSnapshot, host_sample

SAMPLE_S = 2.0


@dataclass
class ClusterSample:
    cpus: float
    free_cpus: float
    memory_mb: float
    nodes: int


class ClusterSlots:
    """Admission under Ray: as many evaluations in flight as the cluster's CPUs hold at
    ``ray.eval_cpus`` each (Ray places them); waiters start in arrival order."""

    def __init__(self, ray: Any, config: Any, disk_path: Path):
        self.ray = ray
        self.config = config
        self.disk_path = disk_path
        self.running = 0
        self.waiting = 0
        self.sample = self._measure()
        self._freed = anyio.Condition()

    def _measure(self) -> ClusterSample:
        total, free = self.ray.cluster_resources(), self.ray.available_resources()
        return ClusterSample(total.get("CPU", 0.0), free.get("CPU", 0.0), free.get("memory", 0.0) / 2**20,
                             sum(1 for k in total if k.startswith("node:") and k != "node:__internal_head__"))  # fmt: skip

    @property
    def capacity(self) -> int:
        return max(1, int(self.sample.cpus // self.config.eval_cpus))

    @asynccontextmanager
    async def eval_slot(self) -> AsyncIterator[None]:
        async with self._freed:
            self.waiting += 1
            try:
                while self.running >= self.capacity:
                    await self._freed.wait()
            finally:
                self.waiting -= 1
            self.running += 1
        try:
            yield
        finally:
            async with self._freed:
                self.running -= 1
                self._freed.notify()

    async def run(self) -> None:
        while True:
            await anyio.sleep(SAMPLE_S)
            self.sample = await anyio.to_thread.run_sync(self._measure)
            async with self._freed:
                self._freed.notify_all()  # the cluster grew or shrank

    def snapshot(self) -> Any:
        s = self.sample
        busy = 100.0 * (s.cpus - s.free_cpus) / s.cpus if s.cpus else 0.0
        blocked = f"cluster full: {self.running} evaluations on {s.cpus:g} CPUs" if self.waiting else ""
        return GovernorSnapshot(
            cpu_percent=round(busy, 1), memory_available_mb=round(s.memory_mb),
            disk_free_mb=round(host_sample(self.disk_path).disk_free_mb),
            running=self.running, waiting=self.waiting, cores=int(s.cpus),
            target_cores=self.capacity * self.config.eval_cpus, blocked_by=blocked,
        )


def eval_slots(settings: Any, runs_dir: Path) -> Any:
    """The run's admission: the local governor, or the cluster's room under ``run.executor: ray``."""
    if settings.run.executor == "ray":
        from ..executors.ray import connect

        return ClusterSlots(connect(settings), settings.ray, runs_dir)
    from .governor import Governor

    return Governor(settings.governor, runs_dir)
