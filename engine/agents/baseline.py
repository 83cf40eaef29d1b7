"""The two model-free agents: the no-patch baseline and the reference patch."""

from __future__ import annotations

from typing import Any

from ..sandbox.base import Sandbox
from .base import AgentBase, AgentReporter, AgentResult, AgentTask


class EmptyAgent(AgentBase):
    """Submits no patch: the baseline every resolved rate is compared against."""

    name = "empty"
    needs_model = False
    uses_sandbox = False

    async def run(
        self, task: AgentTask, sandbox: Sandbox, model: Any, reporter: AgentReporter
    ) -> AgentResult:
        await reporter.step(0, "submitted no patch")
        return AgentResult(patch="", exit_status="no_patch", steps=1)


class GoldAgent(AgentBase):
    """Submits the reference patch, to validate the evaluator and the environment."""

    name = "gold"
    needs_model = False
    uses_sandbox = False

    async def run(
        self, task: AgentTask, sandbox: Sandbox, model: Any, reporter: AgentReporter
    ) -> AgentResult:
        await reporter.step(0, f"submitted the reference patch ({len(task.instance.patch)} bytes)")
        return AgentResult(patch=task.instance.patch, exit_status="submitted", steps=1)
