"""A run's live picture, folded from its events: one row per instance plus run-wide counters.

Why a reducer over events: the events table is append-only and read by seq, so a front end that
attaches hours later and folds from seq 0, and one inside the running process that folds each new
event as it is written, end with the same picture. ``ramp watch`` and the in-process TUI both read
through :mod:`engine.results.runfeed` into this class, so they cannot disagree.

It is pure: no I/O and no clock (``now`` is passed in), which keeps it fast to test and lets the
TUI fold in a thread. Rows are frozen and replaced when they change, so a :class:`RunSnapshot` is a
shallow copy that is safe to hand from the folding thread to the UI thread, and a reader can tell
that an instance changed by identity (``old_row is not new_row``).
"""

from __future__ import annotations

import bisect
from collections import Counter, deque
from dataclasses import replace
from typing import Any, assert_never

from ..core.events import (
    AgentStep,
    Alert,
    AttemptFinished,
    CommandHandled,
    EvaluationDone,
    Event,
    GateDecision,
    GateVerdict,
    GovernorSample,
    LLMCall,
    PhaseFinished,
    PhaseStarted,
    RunFinished,
    RunStarted,
    StateChanged,
    Summary,
)
from ..core.fsm import TERMINAL, best_outcome
from ..core.gates import GateConfig
from ..core.stats import percentile
from .projections import duration
from .snapshot import PIPELINE, STAGE, AlertLine, Counters, InstanceRow, PhaseView, RunSnapshot

__all__ = ["PIPELINE", "STAGE", "AlertLine", "Counters", "InstanceRow", "PhaseView", "RunSnapshot", "RunView",
           "derived_alerts", "gate_rules"]

#: An instance in a working state for longer than this is reported as stuck.
STUCK_AFTER_S = 900.0
#: A live run whose heartbeat (every 5 s) is older than this has probably died.
STALE_AFTER_S = 60.0
#: Infra failures among this many latest attempts that count as "rising".
INFRA_WINDOW, INFRA_RISING = 20, 3
BUDGET_WARN_SHARE = 0.8
KEPT_ALERTS = 50


class RunView:
    """Folds one run's events (and its runs/phases/instances rows) into a :class:`RunSnapshot`."""

    def __init__(self, run_id: str):
        self.run_id = run_id
        self.seq = 0
        self.status = "starting"
        self.exit_code: int | None = None
        self.meta: dict[str, Any] = {}
        self.budget_usd: float | None = None
        self.approval = "manual"
        self.started_at: float | None = None
        self.ended_at: float | None = None
        self.heartbeat: float | None = None
        self.pace_origin: float | None = None
        self.finished_since_origin: set[str] = set()
        self.attempts_k = 1
        self.current_phase = 0
        self.rows: dict[str, InstanceRow] = {}
        self.phases: list[PhaseView] = []
        self.governor: GovernorSample | None = None
        self.held_since: float | None = None
        self._outcomes: dict[str, set[str]] = {}
        self._latencies: list[float] = []
        self._counts = Counter[str]()
        #: (instance, attempt) -> (syntax valid, degenerate rule, passed): each sample's latest grade.
        self._checks: dict[tuple[str, int], tuple[bool, str | None, bool]] = {}
        self._errors = Counter[str]()
        self._recent_classes: deque[str | None] = deque(maxlen=INFRA_WINDOW)
        self._alerts: deque[AlertLine] = deque(maxlen=KEPT_ALERTS)
        self.rules: tuple[tuple[tuple[str, str], ...], ...] = ()

    # -- rows from the store's tables ----------------------------------------------------------

    def load_run(self, row: dict[str, Any], config: dict[str, Any]) -> None:
        """The runs row: status (paused/resumed by commands), identity, budget and approval."""
        self.status = row["status"]
        self.exit_code = row.get("exit_code")
        self.heartbeat = row.get("heartbeat")
        self.meta = {k: row.get(k) for k in ("agent", "model", "evaluator", "dataset", "host", "pid")}
        run_cfg = config.get("run") or {}
        self.budget_usd = run_cfg.get("budget_usd")
        self.attempts_k = int(run_cfg.get("attempts") or self.attempts_k)
        ramp = config.get("ramp") or {}
        self.approval = ramp.get("approval") or "manual"
        if not self.rules:
            self.rules = gate_rules(ramp)
        if self.started_at is None:
            self.started_at = row.get("created_at")

    def load_instances(self, rows: list[dict[str, Any]]) -> None:
        """Instance identity (repo, phase, order) comes from the instances table; state from events."""
        for r in rows:
            if r["instance_id"] not in self.rows:
                self.rows[r["instance_id"]] = InstanceRow(
                    instance_id=r["instance_id"], repo=r["repo"], phase=r["phase"], position=r["position"]
                )

    def load_phases(self, rows: list[dict[str, Any]]) -> None:
        """Names, statuses and decisions from the phases table (awaiting_approval lives only there)."""
        known = {p.index: p for p in self.phases}
        out = []
        for r in rows:
            old = known.get(r["phase"]) or PhaseView(index=r["phase"], size=r["size"])
            out.append(replace(old, size=r["size"], name=r["name"], status=r["status"],
                               decision=r["decision"], decided_by=r["decided_by"]))
        self.phases = out

    # -- events --------------------------------------------------------------------------------

    def apply(self, event: Event) -> None:
        if event.seq is not None:
            self.seq = max(self.seq, event.seq)
        # A match over the closed union, not a handler looked up by name: renaming or adding an
        # event kind fails type checking here instead of silently freezing a screen.
        match event:
            case RunStarted():
                self._on_run_started(event)
            case RunFinished():
                self._on_run_finished(event)
            case PhaseStarted():
                self._on_phase_started(event)
            case GateVerdict():
                self._on_gate_verdict(event)
            case GateDecision():
                self._on_gate_decision(event)
            case StateChanged():
                self._on_state(event)
            case AgentStep():
                self._on_agent_step(event)
            case AttemptFinished():
                self._on_attempt_finished(event)
            case LLMCall():
                self._on_llm_call(event)
            case GovernorSample():
                self._on_governor(event)
            case Alert():
                self._on_alert(event)
            case EvaluationDone():
                if event.syntax_valid is not None:  # a grader with output checks (code completion)
                    self._checks[event.instance_id, event.attempt] = (event.syntax_valid, event.degenerate,
                                                                       event.resolved)
            case PhaseFinished() | CommandHandled() | Summary():
                pass  # nothing a view shows changes with these
            case _:
                assert_never(event)

    def _on_run_started(self, e: RunStarted) -> None:
        self.status = "running"
        self.exit_code = None
        self.ended_at = None
        self.attempts_k = e.attempts
        self.started_at = self.started_at or e.ts
        self.pace_origin, self.finished_since_origin = e.ts, set()
        if not self.phases:
            self.phases = [PhaseView(index=i, size=s) for i, s in enumerate(e.phases)]

    def _on_run_finished(self, e: RunFinished) -> None:
        self.status, self.exit_code, self.ended_at = e.status, e.exit_code, e.ts

    def _on_phase_started(self, e: PhaseStarted) -> None:
        self.current_phase = e.phase
        self._set_phase(e.phase, status="running")

    def _on_gate_verdict(self, e: GateVerdict) -> None:
        self._set_phase(e.phase, verdict=e)

    def _on_gate_decision(self, e: GateDecision) -> None:
        verdict = next((p.verdict for p in self.phases if p.index == e.phase), None)
        self._set_phase(e.phase, decision=e.decision, decided_by=e.by)
        # The time the gate waited for its decision is not the run's pace: the ETA leaves it out.
        if verdict is not None and self.pace_origin is not None and verdict.ts >= self.pace_origin:
            self.pace_origin += max(0.0, e.ts - verdict.ts)

    def _set_phase(self, index: int, **fields: Any) -> None:
        for i, p in enumerate(self.phases):
            if p.index == index:
                self.phases[i] = replace(p, **fields)

    def _update(self, instance_id: str, **fields: Any) -> InstanceRow | None:
        row = self.rows.get(instance_id)
        if row is None:
            return None
        row = replace(row, **fields)
        self.rows[instance_id] = row
        return row

    def _on_state(self, e: StateChanged) -> None:
        fields: dict[str, Any] = {"state": e.to_state, "attempt": e.attempt, "state_since": e.ts}
        if e.to_state != "agent":
            fields["sub_state"] = ""
        if e.to_state == "preparing":
            fields.update(attempt_started=e.ts, attempt_ended=None, detail="")
        elif e.to_state in TERMINAL:
            fields.update(attempt_ended=e.ts, error_class=e.error_class, detail=e.detail)
        self._update(e.instance_id, **fields)

    def _on_agent_step(self, e: AgentStep) -> None:
        if e.sub_state:
            self._update(e.instance_id, sub_state=e.sub_state)

    def _on_attempt_finished(self, e: AttemptFinished) -> None:
        outcomes = self._outcomes.setdefault(e.instance_id, set())
        outcomes.add(e.outcome)
        best = best_outcome(outcomes)
        row = self.rows.get(e.instance_id)
        done = max(row.attempts_done if row else 0, e.attempt)
        self._update(e.instance_id, outcome=best, attempts_done=done, error_class=e.error_class,
                     **({"detail": e.detail} if e.detail else {}))
        self._recent_classes.append(e.error_class)
        if e.error_class:
            self._errors[e.error_class] += 1
        self.finished_since_origin.add(e.instance_id)

    def _on_llm_call(self, e: LLMCall) -> None:
        c = self._counts
        c["calls"] += 1
        c["input_tokens"] += e.input_tokens
        c["output_tokens"] += e.output_tokens
        if e.cache_hit:  # a replay's latency is not the provider's
            c["cached_calls"] += 1
            c["saved_micro"] += round((e.saved_usd or 0.0) * 1e6)
        elif e.status != "ok":
            c["failed_calls"] += 1
        elif e.latency_s is not None:
            bisect.insort(self._latencies, e.latency_s)
        if e.cost_usd is None:
            c["unpriced_calls"] += int(e.status == "ok")
        else:
            c["cost_micro"] += round(e.cost_usd * 1e6)
        if e.instance_id:
            row = self.rows.get(e.instance_id)
            if row is not None:
                self._update(
                    e.instance_id, input_tokens=row.input_tokens + e.input_tokens,
                    output_tokens=row.output_tokens + e.output_tokens, cost_usd=row.cost_usd + (e.cost_usd or 0.0),
                )

    def _on_governor(self, e: GovernorSample) -> None:
        self.governor = e
        self.held_since = (self.held_since or e.ts) if e.holding else None

    def _on_alert(self, e: Alert) -> None:
        self._alerts.append(AlertLine(e.level, e.message, e.ts))

    # -- snapshots -----------------------------------------------------------------------------

    def counters(self) -> Counters:
        c, lat = self._counts, self._latencies
        return Counters(
            calls=c["calls"], failed_calls=c["failed_calls"], input_tokens=c["input_tokens"],
            output_tokens=c["output_tokens"], cost_usd=c["cost_micro"] / 1e6, unpriced_calls=c["unpriced_calls"],
            latency_p50_s=percentile(lat, 0.5), latency_p90_s=percentile(lat, 0.9),
            latency_p99_s=percentile(lat, 0.99),
            errors_by_class=tuple(sorted(self._errors.items(), key=lambda kv: (-kv[1], kv[0]))),
            cached_calls=c["cached_calls"], cache_saved_usd=c["saved_micro"] / 1e6,
            checked_samples=len(self._checks),
            syntax_valid=sum(1 for valid, _, _ in self._checks.values() if valid),
            degenerate=sum(1 for _, rule, _ in self._checks.values() if rule),
            passed_samples=sum(1 for _, _, passed in self._checks.values() if passed),
        )

    def snapshot(self, now: float) -> RunSnapshot:
        """The picture at ``now``."""
        rows = tuple(sorted(self.rows.values(), key=lambda r: r.position))
        counters = self.counters()
        snap = RunSnapshot(
            run_id=self.run_id, now=now, seq=self.seq, status=self.status, exit_code=self.exit_code,
            meta=dict(self.meta), started_at=self.started_at, ended_at=self.ended_at,
            heartbeat=self.heartbeat, rows=rows, phases=tuple(self.phases),
            current_phase=self.current_phase, attempts_k=self.attempts_k, counters=counters,
            governor=self.governor, alerts=(), budget_usd=self.budget_usd, approval=self.approval,
            eta_s=self._eta(rows, now), rules=self.rules, held_since=self.held_since,
        )
        return replace(snap, alerts=derived_alerts(snap, list(self._recent_classes)) + tuple(reversed(self._alerts)))

    def _eta(self, rows: tuple[InstanceRow, ...], now: float) -> float | None:
        """Time left at the pace of this process so far: seconds per instance it finished."""
        if self.status not in ("running", "paused") or not self.finished_since_origin or self.pace_origin is None:
            return None
        if any(p.status == "awaiting_approval" and p.decision is None for p in self.phases):
            return None  # nothing moves while a gate waits: no ETA that grows by the second
        left = sum(1 for r in rows if not (r.state in TERMINAL and r.attempts_done))
        return (now - self.pace_origin) / len(self.finished_since_origin) * left


def gate_rules(ramp: dict[str, Any]) -> tuple[tuple[tuple[str, str], ...], ...]:
    """Each configured phase's gate as (tier, rule) pairs: ``ramp.gate`` with the phase's overrides."""
    base = GateConfig.model_validate(ramp.get("gate") or {})
    phases = ramp.get("phases") or [{}]
    out = []
    for phase in phases:
        override = (phase or {}).get("gate")
        gate = base.merged(GateConfig.model_validate(override) if override is not None else None)
        out.append(tuple((tier, rule) for tier in ("stop", "caution", "excellent") for rule in getattr(gate, tier)))
    return tuple(out)


def derived_alerts(snap: RunSnapshot, recent_classes: list[str | None]) -> tuple[AlertLine, ...]:
    """Conditions worth an operator's eye that no single event states: a waiting gate, the budget
    nearly spent, infra failures piling up, and instances stuck in one state."""
    out: list[AlertLine] = []
    waiting = snap.awaiting
    if waiting is not None and waiting.verdict is not None:
        out.append(AlertLine("warning", f"gate {waiting.index + 1}: {waiting.verdict.tier} waits for approval"
                                        " (a approve, x reject)"))
    spent, budget = snap.counters.cost_usd, snap.budget_usd
    if budget and spent >= BUDGET_WARN_SHARE * budget:
        out.append(AlertLine("warning", f"budget: ${spent:.2f} of ${budget:.2f} spent ({spent / budget:.0%})"))
    governor = snap.governor
    if snap.status == "running" and governor is not None and snap.held_since is not None:
        out.append(AlertLine("info", f"{governor.waiting_evals} evaluation(s) wait for a slot "
                                     f"for {duration(snap.now - snap.held_since)}: {governor.blocked_by}"))
    infra = sum(1 for c in recent_classes if c == "infra")
    if infra >= INFRA_RISING:
        out.append(AlertLine("error", f"infra failures rising: {infra} of the last {len(recent_classes)} attempts"))
    if snap.status in ("running", "paused") and snap.heartbeat and snap.now - snap.heartbeat > STALE_AFTER_S:
        out.append(AlertLine("error", f"no heartbeat for {(snap.now - snap.heartbeat) / 60:.0f}m: is process "
                                      f"{snap.meta.get('pid')} on {snap.meta.get('host')} still running?"))
    if snap.status == "running":
        stuck = [r for r in snap.rows if r.state not in TERMINAL and r.state != "queued"
                 and r.state_since is not None and snap.now - r.state_since > STUCK_AFTER_S]
        if stuck:
            worst = min(stuck, key=lambda r: r.state_since or 0.0)
            minutes = (snap.now - (worst.state_since or snap.now)) / 60
            more = f" (+{len(stuck) - 1} more)" if len(stuck) > 1 else ""
            out.append(AlertLine("warning", f"{worst.instance_id} stuck in {worst.state} for {minutes:.0f}m{more}"))
    return tuple(out)
