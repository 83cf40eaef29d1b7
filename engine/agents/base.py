"""The agent protocol.

An agent takes a task, a sandbox, a model and budgets, and returns a patch, a trajectory and an exit
status. It reports its sub-states (localize, edit, test, judge, ...) through an :class:`AgentReporter`
so the state machine and the TUI can show them, and saves its trajectory after every step.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal, Protocol, runtime_checkable

from pydantic import BaseModel, Field

from ..core.config import Budgets  # agents receive the budgets the run config holds
from ..core.errors import ErrorClass
from ..datasets.rows import TaskRow
from ..sandbox.base import Sandbox

ExitStatus = Literal["submitted", "no_patch", "budget_exhausted", "stuck", "error"]


class AgentTask(BaseModel):
    """What the agent is asked to do."""

    instance: TaskRow
    run_id: str
    attempt: int
    budgets: Budgets = Field(default_factory=Budgets)
    public_tests: list[str] = Field(
        default_factory=list,
        description="Tests the agent may run and see (feedback-split mode); empty means none.",
    )
    trajectory_path: Path | None = Field(default=None, description="Where to save the trajectory.")


class AgentResult(BaseModel):
    """What an agent hands back."""

    patch: str | None = Field(description="Unified diff against base_commit; None or '' is no patch.")
    exit_status: ExitStatus
    error_class: ErrorClass | None = None
    detail: str = ""
    steps: int = 0
    trajectory_path: str | None = None


class AgentReporter(Protocol):
    """How an agent tells the engine what it is doing."""

    async def sub_state(self, name: str, detail: str = "") -> None:
        """Enter a sub-state of `agent` (e.g. localize, edit, test, judge)."""
        ...

    async def step(self, index: int, summary: str, data: dict[str, Any] | None = None) -> None:
        """Record one agent step (one turn); the engine persists it at once."""
        ...


@runtime_checkable
class Agent(Protocol):
    """Produces a patch for one task."""

    name: str
    needs_model: bool
    #: False for an agent that never touches its sandbox (the reference patch, a predictions file):
    #: it gets a NoSandbox, and the attempt makes no checkout.
    uses_sandbox: bool

    @property
    def instance_ids(self) -> frozenset[str] | None:
        """The instances this agent has answers for (a predictions file's); None: any instance.
        A run selects only these, and lists the dataset's others as not predicted."""
        ...

    @property
    def model_label(self) -> str | None:
        """The model its patches came from when the agent knows it (a predictions file's
        ``model_name_or_path``); None: the run's ``--model``."""
        ...

    async def run(
        self, task: AgentTask, sandbox: Sandbox, model: Any, reporter: AgentReporter
    ) -> AgentResult: ...


class AgentBase:
    """What most agents share: they answer any instance and report the run's model. An agent with
    options sets ``Config`` (a pydantic model, validated from ``agents.<name>``) and gets it as
    ``self.config``."""

    name: str
    needs_model: bool = True
    uses_sandbox: bool = True
    instance_ids: frozenset[str] | None = None
    model_label: str | None = None
    Config: type[BaseModel] | None = None

    def __init__(self, config: Any = None):
        self.config = config if config is not None or self.Config is None else self.Config()
