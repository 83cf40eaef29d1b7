"""The frozen records a run's live picture is made of: one row per instance, one view per phase,
run-wide counters, alert lines, and the snapshot that holds them (engine.results.runview folds
events into them; the TUI draws them).

Rows are frozen and replaced when they change, so a :class:`RunSnapshot` is a shallow copy that is
safe to hand from the folding thread to the UI thread, and a reader can tell that an instance
changed by identity (``old_row is not new_row``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..core.events import GateVerdict, GovernorSample
from ..core.fsm import TERMINAL

#: The per-instance state machine as a left-to-right pipeline; alternatives share a stage.
PIPELINE: tuple[tuple[str, ...], ...] = (
    ("queued",), ("preparing",), ("agent",), ("patched", "no_patch"), ("eval_queued",),
    ("evaluating",), ("resolved", "unresolved", "error"),
)
STAGE: dict[str, int] = {state: index for index, states in enumerate(PIPELINE) for state in states}


@dataclass(frozen=True, slots=True)
class InstanceRow:
    """One instance as the table shows it. Tokens and cost add up over all its attempts."""

    instance_id: str
    repo: str
    phase: int
    position: int
    state: str = "queued"
    sub_state: str = ""
    attempt: int = 0
    attempts_done: int = 0
    outcome: str | None = None
    error_class: str | None = None
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0
    attempt_started: float | None = None
    attempt_ended: float | None = None
    state_since: float | None = None
    #: Why the last attempt ended as it did (an error's message, the failing tests), when it said.
    detail: str = ""

    @property
    def stage(self) -> int:
        return STAGE.get(self.state, 0)

    def duration(self, now: float) -> float | None:
        """Wall time of the current attempt: finished, or running until ``now``."""
        if self.attempt_started is None:
            return None
        end = self.attempt_ended if self.attempt_ended is not None else now
        return max(0.0, end - self.attempt_started)


@dataclass(frozen=True, slots=True)
class PhaseView:
    index: int
    size: int
    name: str | None = None
    status: str = "pending"
    verdict: GateVerdict | None = None
    decision: str | None = None
    decided_by: str | None = None


@dataclass(frozen=True, slots=True)
class Counters:
    calls: int = 0
    failed_calls: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0
    unpriced_calls: int = 0
    latency_p50_s: float | None = None
    latency_p90_s: float | None = None
    latency_p99_s: float | None = None
    errors_by_class: tuple[tuple[str, int], ...] = ()
    cached_calls: int = 0
    cache_saved_usd: float = 0.0
    #: Code completion: graded samples with output checks, and how many parsed / were degenerate /
    #: passed (passed / checked is pass@1 when every problem has the same number of samples).
    checked_samples: int = 0
    syntax_valid: int = 0
    degenerate: int = 0
    passed_samples: int = 0


@dataclass(frozen=True, slots=True)
class AlertLine:
    level: str
    message: str
    ts: float | None = None


@dataclass(frozen=True)
class RunSnapshot:
    """Everything a front end draws, at one instant. Immutable and cheap to make."""

    run_id: str
    now: float
    seq: int
    status: str
    exit_code: int | None
    meta: dict[str, Any]
    started_at: float | None
    ended_at: float | None
    heartbeat: float | None
    rows: tuple[InstanceRow, ...]
    phases: tuple[PhaseView, ...]
    current_phase: int
    attempts_k: int
    counters: Counters
    governor: GovernorSample | None
    alerts: tuple[AlertLine, ...]
    budget_usd: float | None
    approval: str
    eta_s: float | None
    #: Per phase index: the gate's rules as (tier, rule), known before the phase is judged.
    rules: tuple[tuple[tuple[str, str], ...], ...] = ()
    #: When the governor began holding evaluations back (the sample's time), None while it holds none.
    held_since: float | None = None

    @property
    def finished(self) -> int:
        return sum(1 for r in self.rows if r.state in TERMINAL and r.attempts_done)

    @property
    def awaiting(self) -> PhaseView | None:
        """The phase whose gate waits for an operator's decision, if one does (never in a run that
        ended: a stopped run waits for nothing until it is resumed)."""
        if self.status not in ("running", "paused"):
            return None
        return next((p for p in self.phases if p.status == "awaiting_approval" and p.decision is None), None)

    @property
    def elapsed_s(self) -> float | None:
        if self.started_at is None:
            return None
        return max(0.0, (self.ended_at if self.ended_at is not None else self.now) - self.started_at)

    def row(self, instance_id: str) -> InstanceRow | None:
        return next((r for r in self.rows if r.instance_id == instance_id), None)
