"""The run context: what the attempt runner, the phase gate and the audits are handed.

One object per run, built by the runner (engine.run.runner) and held by the scheduler: the run's id,
its store and folder, its options, its typed backends, the governor and the display, the plan (which
instance is in which phase), and the signals that pause or halt it. It owns the two writes every
layer above the store shares: :meth:`emit` (store first, then show) and :meth:`transition` (an
instance's state, its attempt row and the state event, in one write).

The scheduler decides which attempt runs and when; nothing that receives a context can reach the
scheduler itself.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import anyio

from ..agents.base import Agent
from ..core.artifacts import RunFolder, safe_name
from ..core.config import Budgets
from ..core.events import Display, Event, GovernorSample, RunStatus
from ..core.fsm import TERMINAL
from ..datasets.rows import TaskRow
from ..evaluators.base import Evaluator
from ..models.base import Model
from ..sandbox.base import SandboxFactory
from ..store import Store

if TYPE_CHECKING:
    from ..core.fsm import InstanceMachine
    from .governor import GovernorSnapshot

GOVERNOR_EVENT_S = 5.0


@dataclass
class Write:
    """Records that go to the store in one unit (see :meth:`RunContext.transition`)."""

    statements: list[tuple[str, tuple[Any, ...]]] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    #: Each instance row's new fields, kept apart until the write goes out: states joined in one
    #: write update the row once, with the last state's values (each later field wins, as it would
    #: in one UPDATE after another), instead of once per state.
    instances: dict[str, dict[str, Any]] = field(default_factory=dict)


class EvalSlots(Protocol):
    """The governor as the run uses it: a slot per evaluation, and what it measured."""

    def eval_slot(self) -> AbstractAsyncContextManager[None]: ...

    def snapshot(self) -> GovernorSnapshot: ...

    async def run(self) -> None: ...


@dataclass
class RunOptions:
    """How a run's attempts are made: how many, retried how, under which budgets."""

    attempts: int = 1
    attempt_policy: str = "until-resolved"
    max_retries: int = 2
    retry_backoff_s: float = 2.0
    agent_concurrency: int = 4
    budgets: Budgets = field(default_factory=Budgets)
    model_name: str = "gold"
    #: Feedback-split mode: share of FAIL_TO_PASS shown to the agent, and the split's seed.
    public_share: float = 0.0
    split_seed: int = 0


@dataclass(frozen=True)
class Backends:
    """The run's typed collaborators; ``model`` is None for agents that need none (gold, empty)."""

    agent: Agent
    evaluator: Evaluator
    sandboxes: SandboxFactory
    model: Model | None = None


class Tracked(Protocol):
    """An instance as the context moves it: its row and its state machine (the scheduler's track)."""

    instance: TaskRow
    machine: InstanceMachine

    def outcome(self) -> str | None: ...


@dataclass(frozen=True)
class Plan:
    """Which instances the run holds, in order, and the phase each first belongs to."""

    phases: list[int]
    instances: Mapping[str, TaskRow]
    phase_of: Mapping[str, int]

    @classmethod
    def of(cls, instances: list[TaskRow], phases: list[int]) -> Plan:
        phase_of = {inst.instance_id: next(i for i, size in enumerate(phases) if pos < size)
                    for pos, inst in enumerate(instances)}
        return cls(phases, {inst.instance_id: inst for inst in instances}, phase_of)

    def through(self, phase: int) -> list[str]:
        """Ids of every instance in phases 0 through ``phase``."""
        return [iid for iid, p in self.phase_of.items() if p <= phase]


class Signals:
    """Pause, stop and the budget halt, as the scheduler sets them and attempts obey them."""

    def __init__(self) -> None:
        self.resumed = anyio.Event()
        self.resumed.set()
        self.status: RunStatus = "running"
        #: Set when the run budget or a daily call quota refused a model call: no new attempt starts.
        self.budget_stop = ""
        self.stop_status: RunStatus | None = None
        self.stop_reason = ""

    def pause(self) -> None:
        self.resumed = anyio.Event()
        self.status = "paused"

    def resume(self) -> None:
        self.resumed.set()
        self.status = "running"

    def stop(self, status: RunStatus, reason: str) -> None:
        self.stop_status = status
        self.stop_reason = reason

    def halt_for_budget(self, reason: str) -> None:
        """The run budget or a daily quota refused a model call: no attempt starts any more.

        Attempts that need no further call (evaluations) finish; the one that was refused, like an
        attempt in flight at an operator's stop, is left to be re-run on resume. The run ends
        "stopped" with reason "budget: ...", and resuming it with a larger budget (or on the next
        UTC day) picks up everything that did not finish.
        """
        if not self.budget_stop:
            self.budget_stop = reason
            self.stop("stopped", f"budget: {reason}")


@dataclass
class RunContext:
    run_id: str
    store: Store
    folder: RunFolder
    options: RunOptions
    backends: Backends
    governor: EvalSlots
    display: Display
    plan: Plan
    signals: Signals = field(default_factory=Signals)
    agent_lane: anyio.CapacityLimiter = field(init=False)
    _last_governor_event: float = field(default=0.0, init=False)

    def __post_init__(self) -> None:
        self.agent_lane = anyio.CapacityLimiter(self.options.agent_concurrency)

    # -- writes every layer above the store shares ----------------------------------------------

    async def emit(self, event: Event) -> None:
        """Store first, then show what was stored: the store redacts every event on its way in,
        so the display never needs to redact again."""
        if not event.run_id:
            event.run_id = self.run_id
        self.show(await self.store.append(event))

    def show(self, event: Event) -> None:
        try:
            self.display.show(event)
        except Exception:  # a broken display must never stop the engine
            pass

    async def transition(
        self,
        track: Tracked,
        to: str,
        *,
        attempt_fields: dict[str, Any] | None = None,
        also: Event | None = None,
        joined: Write | None = None,
        defer: bool = False,
        **kw: Any,
    ) -> Write | None:
        """Move an instance's state machine, persisting the new state and its event atomically.

        ``attempt_fields`` update the current attempt's row in the same write: an attempt that
        finishes and the instance that shows it finished are one write, so a kill can never leave a
        done attempt under an instance still queued or evaluating. ``also`` is one more event of the
        same write (an attempt's AttemptFinished with its done row: a resumed run does not re-run a
        done attempt, so an event written after the row was lost to a kill between the two).
        ``joined`` holds records written first in the same write (an attempt's start, its
        evaluation). ``defer`` writes nothing and returns the write, to be joined to the next
        transition of the same stage: one commit per stage of an attempt, not one per state.
        Entering an outcome also stores the instance's overall outcome, from the track's outcomes
        (set before calling).
        """
        event = track.machine.transition(to, **kw)
        fields: dict[str, Any] = {"state": to, "attempt": track.machine.attempt}
        if to in TERMINAL:
            fields["error_class"] = kw.get("error_class")
            fields["outcome"] = track.outcome()
        if to != "agent":
            fields["sub_state"] = None
        iid = track.instance.instance_id
        write = joined or Write()
        if attempt_fields:
            write.statements.append(self.store.attempt_update(self.run_id, iid, track.machine.attempt, attempt_fields))
        write.instances.setdefault(iid, {}).update(fields)
        write.events += [event] if also is None else [event, also]
        if defer:
            return write
        rows = (self.store.instance_update(self.run_id, i, row) for i, row in write.instances.items())
        statements = [*write.statements, *rows]
        for stored in await self.store.apply(statements, write.events):
            self.show(stored)
        return None

    async def governor_event(self) -> None:
        """A governor sample, at most every GOVERNOR_EVENT_S seconds."""
        now = time.monotonic()
        if now - self._last_governor_event < GOVERNOR_EVENT_S:
            return
        self._last_governor_event = now
        snap = self.governor.snapshot()
        await self.emit(GovernorSample(
            cpu_percent=snap.cpu_percent, memory_available_mb=snap.memory_available_mb,
            disk_free_mb=snap.disk_free_mb, running_evals=snap.running, waiting_evals=snap.waiting,
            blocked_by=snap.blocked_by,
        ))

    def attempt_key(self, instance_id: str, number: int, label: str = "") -> str:
        """The key a sandbox or evaluation of this attempt is named by (scratch dirs, containers)."""
        return f"{safe_name(self.run_id)}/{safe_name(instance_id)}-{number}" + (f"-{label}" if label else "")

