"""Typed events: every change of state in a run is one of these.

Events are pydantic models sharing a base (run id, timestamp, store sequence number) with a
``kind: Literal[...]`` tag. The store appends them as they happen; front ends (plain lines, JSON lines,
the TUI) consume the same objects, and anything reading the store back parses rows through the
:data:`Event` discriminated union, a single keyed lookup per row.
"""

from __future__ import annotations

import time
from typing import Annotated, Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from .errors import ErrorClass
from .runmetrics import RuleCheck

State = Literal[
    "queued",
    "preparing",
    "agent",
    "patched",
    "no_patch",
    "eval_queued",
    "evaluating",
    "resolved",
    "unresolved",
    "error",
]
Outcome = Literal["resolved", "unresolved", "error"]
RunStatus = Literal["running", "paused", "completed", "stopped", "interrupted", "failed", "gate_stop"]
Tier = Literal["STOP", "CAUTION", "PROCEED", "EXCELLENT"]


class EventBase(BaseModel):
    """Fields every event carries."""

    model_config = ConfigDict(extra="forbid")

    run_id: str = Field(default="", description="The run this event belongs to.")
    ts: float = Field(default_factory=time.time, description="Unix time the event happened.")
    seq: int | None = Field(default=None, description="Store rowid, set once the event is written.")


class InstanceEvent(EventBase):
    instance_id: str
    attempt: int = Field(ge=1)


class RunStarted(EventBase):
    kind: Literal["run_started"] = "run_started"
    agent: str
    model: str | None = None
    evaluator: str
    dataset: str
    instances: int
    attempts: int
    phases: list[int]
    resumed: bool = False
    pid: int = 0
    finished_attempts: int = Field(default=0, description="Attempts already finished when a run resumes.")


class RunFinished(EventBase):
    kind: Literal["run_finished"] = "run_finished"
    status: RunStatus
    exit_code: int
    reason: str = ""


class PhaseStarted(EventBase):
    kind: Literal["phase_started"] = "phase_started"
    phase: int = Field(description="0-based index into the ramp plan.")
    size: int
    instance_ids: list[str]


class PhaseFinished(EventBase):
    kind: Literal["phase_finished"] = "phase_finished"
    phase: int


class GateVerdict(EventBase):
    kind: Literal["gate_verdict"] = "gate_verdict"
    phase: int
    tier: Tier
    rule: str = Field(description="The rule that decided the tier, as written in the config.")
    values: dict[str, Any] = Field(default_factory=dict, description="Measured metric values.")
    checks: list[RuleCheck] = Field(default_factory=list, description="Every rule and its result.")
    projection: dict[str, Any] = Field(default_factory=dict, description="Next phase: cost, time, calls.")


class GateDecision(EventBase):
    kind: Literal["gate_decision"] = "gate_decision"
    phase: int
    decision: Literal["approve", "reject"]
    by: str = Field(description="'operator', or the headless policy that decided.")


class StateChanged(InstanceEvent):
    kind: Literal["state"] = "state"
    from_state: State | None
    to_state: State
    error_class: ErrorClass | None = None
    detail: str = ""


class AgentStep(InstanceEvent):
    kind: Literal["agent_step"] = "agent_step"
    step: int
    sub_state: str = ""
    summary: str = ""


class AttemptFinished(InstanceEvent):
    kind: Literal["attempt_finished"] = "attempt_finished"
    outcome: Outcome
    error_class: ErrorClass | None = None
    detail: str = ""
    patch_bytes: int = 0
    agent_s: float = 0.0
    eval_s: float = 0.0


class EvaluationDone(InstanceEvent):
    kind: Literal["evaluation"] = "evaluation"
    resolved: bool
    applied: bool
    error_class: ErrorClass | None = None
    f2p_passed: int = 0
    f2p_total: int = 0
    p2p_passed: int = 0
    p2p_total: int = 0
    duration_s: float = 0.0
    #: Code completion's output checks (None where the grader makes none).
    syntax_valid: bool | None = None
    degenerate: str | None = None


class LLMCall(EventBase):
    kind: Literal["llm_call"] = "llm_call"
    instance_id: str | None = None
    attempt: int | None = None
    model_id: str
    provider: str
    input_tokens: int = 0
    output_tokens: int = 0
    cached_tokens: int = 0
    estimated: bool = False
    cost_usd: float | None = None
    latency_s: float = 0.0
    ttft_s: float | None = None
    status: Literal["ok", "error"] = "ok"
    error_class: ErrorClass | None = None
    cache_hit: bool = Field(default=False, description="Answered by the LLM response cache (cost 0).")
    saved_usd: float | None = Field(default=None, description="A cache hit's original cost.")
    original_latency_s: float | None = Field(default=None, description="A cache hit's original latency.")


class CommandHandled(EventBase):
    kind: Literal["command"] = "command"
    command_id: int
    command: str
    arg: str = ""
    result: str = ""


class GovernorSample(EventBase):
    kind: Literal["governor"] = "governor"
    cpu_percent: float
    memory_available_mb: float
    disk_free_mb: float
    running_evals: int
    waiting_evals: int
    blocked_by: str = Field(default="", description="Why admission is held, if it is.")

    @property
    def holding(self) -> bool:
        """Evaluations are waiting, and the governor says why it holds them."""
        return bool(self.blocked_by and self.waiting_evals)


AlertLevel = Literal["info", "warning", "error"]


class Alert(EventBase):
    kind: Literal["alert"] = "alert"
    level: AlertLevel = "warning"
    message: str
    instance_id: str | None = None


class Summary(EventBase):
    """The last line of ``--json`` output and the last event of a run."""

    kind: Literal["summary"] = "summary"
    status: RunStatus
    exit_code: int
    outcomes: dict[str, Outcome | None] = Field(description="Final outcome per instance.")
    metrics: dict[str, Any] = Field(default_factory=dict)
    skipped_rows: int = Field(
        default=0, description="Dataset rows skipped as malformed or duplicate (each one was an alert)."
    )


Event = Annotated[
    RunStarted
    | RunFinished
    | PhaseStarted
    | PhaseFinished
    | GateVerdict
    | GateDecision
    | StateChanged
    | AgentStep
    | AttemptFinished
    | EvaluationDone
    | LLMCall
    | CommandHandled
    | GovernorSample
    | Alert
    | Summary,
    Field(discriminator="kind"),
]

EVENT_ADAPTER: TypeAdapter[Event] = TypeAdapter(Event)


def parse_event(data: str | bytes | dict[str, Any]) -> Event:
    """Read one stored or streamed event back into its typed model."""
    if isinstance(data, dict):
        return EVENT_ADAPTER.validate_python(data)
    return EVENT_ADAPTER.validate_json(data)


class Display(Protocol):
    """Where the engine shows events (plain lines, JSON lines, the TUI): called after each event is
    stored; it must return quickly and never raise into the engine. Implementations: engine.run.display."""

    def show(self, event: Event) -> None: ...

    def close(self) -> None: ...
