"""A real RunContext for tests of the gate and the audits: a real store, run folder, governor,
gold agent, local sandboxes and evaluator (unless one is given), and a display that records what
the context shows."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from engine.agents.baseline import GoldAgent
from engine.core.artifacts import RunFolder
from engine.core.config import GovernorConfig
from engine.datasets.rows import SWEInstance
from engine.evaluators.base import Evaluator
from engine.evaluators.local import LocalEvaluator, LocalEvaluatorConfig
from engine.run.context import Backends, Plan, RunContext, RunOptions
from engine.run.governor import Governor, HostSample
from engine.sandbox.local import LocalSandboxFactory
from engine.store import Store
from engine.workspace.repos import RepoCache


class RecordingDisplay:
    def __init__(self) -> None:
        self.events: list[Any] = []

    def show(self, event: Any) -> None:
        self.events.append(event)

    def close(self) -> None:
        pass


class CountingGovernor(Governor):
    """The real governor (on a steady sample), counting the evaluation slots it grants."""

    slots = 0

    @asynccontextmanager
    async def eval_slot(self, on_wait: Callable[[str], None] | None = None) -> AsyncIterator[None]:
        self.slots += 1
        async with super().eval_slot(on_wait):
            yield


class Harness:
    """``ctx`` is what the gate and the audits get; ``events``, ``of`` and ``slots`` are what
    they did through it."""

    def __init__(self, store: Store, tmp_path: Path, *, instances: list[SWEInstance], phases: list[int],
                 evaluator: Evaluator | None = None, run_id: str = "r", repo_source: str = "file:///nonexistent/{repo}"):
        cache = tmp_path / "cache"
        repo_cache = RepoCache(cache, repo_source)
        self.display = RecordingDisplay()
        self.governor = CountingGovernor(
            GovernorConfig(min_free_disk_mb=0, min_free_memory_mb=0, settle_s=0), tmp_path,
            sampler=lambda: HostSample(0.0, 1e6, 1e6),
        )
        self.evaluator = evaluator or LocalEvaluator(
            LocalEvaluatorConfig(), cache_dir=cache, repo_source=repo_source, repo_cache=repo_cache
        )
        self.ctx = RunContext(
            run_id=run_id, store=store, folder=RunFolder(tmp_path / "runs", run_id), options=RunOptions(),
            backends=Backends(GoldAgent(), self.evaluator, LocalSandboxFactory(repo_cache, cache / "work")),
            governor=self.governor, display=self.display, plan=Plan.of(instances, phases),
        )

    @property
    def events(self) -> list[Any]:
        return self.display.events

    @property
    def slots(self) -> int:
        return self.governor.slots

    def of(self, kind: type) -> list[Any]:
        return [e for e in self.events if isinstance(e, kind)]


def instance(iid: str, repo: str = "acme/calc", **fields: Any) -> SWEInstance:
    row = {"repo": repo, "base_commit": "0" * 40, "test_patch": "", "version": "1.0",
           "FAIL_TO_PASS": ["tests/test_calc.py::test_add"], "PASS_TO_PASS": [], **fields}
    return SWEInstance(instance_id=iid, **row)
