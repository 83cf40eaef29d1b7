"""What every model-driven agent shares: budgets, model calls, the trajectory, and how a loop ends.

Control flow follows mini-swe-agent: a loop runs until something raises an :class:`AgentStop`
(submitted, budget exhausted, stuck, gave up on format); the stop carries the exit status and the
error class, and :meth:`Session.conclude` turns it into an :class:`AgentResult` with the diff of the
workspace. So an agent's loop never has to remember to return the patch on every way out.

The trajectory (messages, and for every step the action, the observation and the usage) is
rewritten atomically after every step, so a run killed at any moment leaves a file that parses and
shows everything up to the last finished step. It passes through the run's redactor on the way to
disk like every other artifact (:func:`engine.core.secrets.current`, installed by the runner).

Budgets are checked before every model call: steps, tokens (input plus output) and cost come from
the task; wall time is enforced by the scheduler too, but the agent stops ``wall_reserve_s`` early,
so it can still hand back its patch instead of being cancelled mid-step.
"""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from ..core import secrets
from ..core.artifacts import atomic_write
from ..core.errors import ErrorClass
from ..models.base import CallContext, Completion, Message, Model
from ..sandbox.base import Sandbox
from .base import AgentReporter, AgentResult, AgentTask, ExitStatus


class AgentStop(Exception):
    """Ends an agent's loop; the class says how."""

    exit_status: ExitStatus = "submitted"
    error_class: ErrorClass | None = None


class Submitted(AgentStop):
    """The agent (or its model) decided the work is done."""


class BudgetExhausted(AgentStop):
    """The attempt's own budget (steps, tokens, cost, wall time) is used up.

    No error class: the patch so far is graded and scored like any other, since not finishing within
    the budget is the agent's result. The class ``budget`` means the *run's* budget or a daily quota
    (raised by the accounting), which stops the whole run and is not scored.
    """

    exit_status = "budget_exhausted"


class Stuck(AgentStop):
    """The same edits, the same failure or the same command again: more turns would not help."""

    exit_status = "stuck"


class FormatGiveUp(AgentStop):
    """The model kept answering in a format the agent cannot act on."""

    exit_status = "error"
    error_class = "model_format"


class Trajectory:
    """The attempt's record, rewritten in full after every step (atomic, so always parseable)."""

    def __init__(self, path: Path | None, header: dict[str, Any]):
        self.path = path
        self.data: dict[str, Any] = {**header, "messages": [], "steps": [], "result": None}

    @property
    def messages(self) -> list[dict[str, Any]]:
        return self.data["messages"]

    def save(self) -> None:
        if self.path is not None:
            atomic_write(self.path, secrets.current()(json.dumps(self.data, indent=1, default=str)), sync=False)


class Session:
    """One attempt's model calls, budgets, trajectory and reporting."""

    def __init__(
        self,
        agent: str,
        task: AgentTask,
        model: Model,
        reporter: AgentReporter,
        *,
        config: dict[str, Any],
        wall_reserve_s: float,
    ):
        self.task = task
        self.model = model
        self.reporter = reporter
        self.budgets = task.budgets
        self.wall_reserve_s = wall_reserve_s
        self.started = time.monotonic()
        self.calls = 0
        self.input_tokens = 0
        self.output_tokens = 0
        self.cost_usd = 0.0
        self.cost_known = True
        self.sub = ""
        self.messages: list[Message] = []
        header = {
            "agent": agent, "run_id": task.run_id, "instance_id": task.instance.instance_id,
            "attempt": task.attempt, "model_id": getattr(model, "model_id", ""), "config": config,
            "budgets": task.budgets.model_dump(), "started_at": time.time(),
        }
        self.trajectory = Trajectory(task.trajectory_path, header)
        self.trajectory.save()

    # -- budgets --------------------------------------------------------------------------------

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def remaining_s(self) -> float | None:
        """Seconds left before the agent must hand back its patch; None when unlimited."""
        limit = self.budgets.max_wall_s
        return None if limit is None else limit - self.wall_reserve_s - self.elapsed

    def check_budgets(self) -> None:
        """Raise BudgetExhausted if another model call would cross a budget."""
        b = self.budgets
        if b.max_steps is not None and self.calls >= b.max_steps:
            raise BudgetExhausted(f"step budget of {b.max_steps} model calls used")
        if b.max_tokens is not None and self.input_tokens + self.output_tokens >= b.max_tokens:
            raise BudgetExhausted(f"token budget of {b.max_tokens} used ({self.input_tokens + self.output_tokens})")
        if b.max_cost_usd is not None and self.cost_usd >= b.max_cost_usd:
            raise BudgetExhausted(f"cost budget of ${b.max_cost_usd:.4f} used (${self.cost_usd:.4f})")
        left = self.remaining_s()
        if left is not None and left <= 0:
            raise BudgetExhausted(f"wall-time budget of {b.max_wall_s:.0f}s nearly used")

    # -- model calls and steps ------------------------------------------------------------------

    async def ask(self, messages: list[Message], *, purpose: str, max_tokens: int | None,
                  temperature: float | None, stop: list[str] | None = None) -> Completion:
        """One model call, within budgets, attributed to this attempt."""
        self.check_budgets()
        context = CallContext(run_id=self.task.run_id, instance_id=self.task.instance.instance_id,
                              attempt=self.task.attempt, purpose=purpose)
        completion = await self.model.complete(messages, max_tokens=max_tokens, temperature=temperature,
                                               stop=stop, context=context)
        self.calls += 1
        self.input_tokens += completion.usage.input_tokens
        self.output_tokens += completion.usage.output_tokens
        if completion.cost_usd is None:
            self.cost_known = False
        else:
            self.cost_usd += completion.cost_usd
        return completion

    def say(self, role: str, content: str) -> None:
        """Add a message to the conversation (and to the trajectory, saved with the next step)."""
        self.messages.append(Message(role=role, content=content))  # type: ignore[arg-type]
        self.trajectory.messages.append({"role": role, "content": content})

    async def sub_state(self, name: str, detail: str = "") -> None:
        self.sub = name
        await self.reporter.sub_state(name, detail)

    async def record(self, summary: str, *, completion: Completion | None = None, **data: Any) -> int:
        """Append one step to the trajectory, save it, and report it. Returns the step's index."""
        index = len(self.trajectory.data["steps"])
        step: dict[str, Any] = {"index": index, "sub_state": self.sub, "summary": summary,
                                "elapsed_s": round(self.elapsed, 3), **data}
        if completion is not None:
            step["response"] = completion.text
            step["usage"] = completion.usage.model_dump()
            step["cost_usd"] = completion.cost_usd
            step["latency_s"] = completion.latency_s
            step["ttft_s"] = completion.ttft_s
        self.trajectory.data["steps"].append(step)
        self.trajectory.data["totals"] = self.totals()
        self.trajectory.save()
        await self.reporter.step(index, summary, {"sub_state": self.sub})
        return index

    def totals(self) -> dict[str, Any]:
        return {
            "calls": self.calls, "input_tokens": self.input_tokens, "output_tokens": self.output_tokens,
            "cost_usd": round(self.cost_usd, 6) if self.cost_known else None,
            "elapsed_s": round(self.elapsed, 3),
        }

    # -- the end --------------------------------------------------------------------------------

    async def conclude(self, sandbox: Sandbox, loop: Callable[[], Awaitable[None]]) -> AgentResult:
        """Run ``loop`` until it raises AgentStop, then hand back the workspace's diff."""
        try:
            await loop()
            raise Submitted("the agent finished")
        except AgentStop as stop:
            status, error_class, detail = stop.exit_status, stop.error_class, str(stop)
        except BaseException as exc:  # a provider error, a bug or a cancellation: keep the record
            self.finish({"exit_status": "error", "detail": f"{type(exc).__name__}: {exc}",
                          "error_class": getattr(exc, "error_class", None)})
            raise
        await self.sub_state("submit", detail)
        patch = await sandbox.diff()
        if status == "submitted" and not patch.strip():
            status = "no_patch"
        result = AgentResult(
            patch=patch, exit_status=status, error_class=error_class, detail=detail, steps=self.calls,
            trajectory_path=str(self.task.trajectory_path) if self.task.trajectory_path else None,
        )
        self.finish({**result.model_dump(exclude={"trajectory_path"})})
        return result

    def finish(self, result: dict[str, Any]) -> None:
        self.trajectory.data["result"] = result
        self.trajectory.data["totals"] = self.totals()
        self.trajectory.save()
