"""Shared pieces for the agent tests: real bundled checkouts, a recording reporter, scripted models.

The bundled mirrors (and, for runs, the evaluator's venvs) are built once per test process in one
cache directory, so every agent test file reuses them instead of rebuilding twelve repositories.
"""

from __future__ import annotations

import atexit
import json
import shutil
import tempfile
from functools import cache
from pathlib import Path
from typing import Any

from engine.agents.base import AgentTask, Budgets
from engine.datasets.bundled import build_bundled
from engine.datasets.rows import SWEInstance
from engine.models.base import Completion
from engine.models.scripted import ScriptedModel
from engine.sandbox.local import LocalSandbox
from engine.workspace.repos import RepoCache


@cache
def shared_cache() -> Path:
    """One cache directory (bundled mirrors, repo clones, venvs) for the whole test process."""
    path = Path(tempfile.mkdtemp(prefix="ramp-agent-tests-"))
    atexit.register(shutil.rmtree, path, True)
    return path


@cache
def bundled() -> tuple[dict[str, SWEInstance], str]:
    """Bundled rows by short name (``romans``), and the repo-source template of their mirrors."""
    rows, template = build_bundled(shared_cache())
    return {row.repo.split("/", 1)[1]: row for row in rows}, template


async def checkout(name: str, dest: Path) -> tuple[SWEInstance, LocalSandbox]:
    """A fresh local sandbox of bundled task ``name`` at its base commit."""
    rows, template = bundled()
    row = rows[name]
    await RepoCache(shared_cache(), template).checkout(row.repo, row.base_commit, dest)
    return row, LocalSandbox(dest, row.base_commit)


def make_task(row: SWEInstance, tmp: Path, **budgets: Any) -> AgentTask:
    return AgentTask(
        instance=row, run_id="test-run", attempt=1, budgets=Budgets(**budgets),
        trajectory_path=tmp / "trajectory.json",
    )


class Recorder:
    """An AgentReporter that keeps everything and checks the trajectory file after every step."""

    def __init__(self, trajectory: Path | None = None):
        self.trajectory = trajectory
        self.sub_states: list[str] = []
        self.steps: list[str] = []
        self.saved_steps: list[int] = []

    async def sub_state(self, name: str, detail: str = "") -> None:
        self.sub_states.append(name)

    async def step(self, index: int, summary: str, data: dict[str, Any] | None = None) -> None:
        self.steps.append(summary)
        if self.trajectory is not None:
            saved = json.loads(self.trajectory.read_text())  # must parse after every step
            self.saved_steps.append(len(saved["steps"]))
            assert saved["steps"][-1]["index"] == index


class Priced:
    """A scripted model whose calls cost money, for cost budgets (scripted models are free)."""

    def __init__(self, replies: list[str], cost_per_call: float):
        self.inner = ScriptedModel.of(replies)
        self.model_id = "priced-scripted"
        self.cost_per_call = cost_per_call

    async def complete(self, messages: Any, **kwargs: Any) -> Completion:
        completion = await self.inner.complete(messages, **kwargs)
        return completion.model_copy(update={"cost_usd": self.cost_per_call})


def block(path: str, search: str, replace: str) -> str:
    """One search/replace block (``search`` and ``replace`` without their final newline)."""
    return f"{path}\n<<<<<<< SEARCH\n{search}\n=======\n{replace}\n>>>>>>> REPLACE\n"
