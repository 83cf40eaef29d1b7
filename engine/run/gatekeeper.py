"""The phase gate the scheduler calls after every phase: audit, measure, judge, project, approve.

:class:`RampGate` implements the scheduler's ``GateKeeper`` protocol, handed the run context. At the end
of a phase it

1. runs the configured audits (re-grades, bug reproduction) through the evaluator;
2. computes the metrics of every phase so far from the store, and judges them with the phase's
   gate (``ramp.gate``, with the tiers ``ramp.phases[i].gate`` overrides);
3. projects the next phase's cost, time and model calls, and refuses to start a phase the
   projection says would cross ``run.budget_usd``; no approval overrides that;
4. records the verdict (a ``GateVerdict`` event, and the phases row's tier and verdict_json);
5. unless this was the last phase, gets a decision: under ``approval: auto`` STOP stops and every
   other tier proceeds (CAUTION with a warning); under ``manual`` it waits for ``ramp ctl RUN
   approve|reject`` (or the TUI's keys), read from the commands table.
   The decision is a ``GateDecision`` event naming who decided.

The last phase's verdict never waits (there is nothing to advance to); a STOP there ends the run
as gate_stop, so the exit code says the last gate failed.
"""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Any, Literal

import anyio

from ..core.config import Settings
from ..core.events import Alert, GateDecision, GateVerdict, Tier
from ..core.gates import decide_tier
from ..core.runmetrics import RunMetrics
from ..results.metrics import compute_with_baseline, load_baseline, load_run
from ..results.projections import describe, project
from ..store import Store
from .audits import run_audits

if TYPE_CHECKING:
    from .context import RunContext

AUTO, BUDGET, OPERATOR = "policy:auto", "policy:budget", "operator"
Decision = Literal["approve", "reject"]
DECISION_POLL_S = 0.3


class RampGate:
    """Gate keeper built from the run's settings."""

    def __init__(self, settings: Settings):
        self.ramp = settings.ramp
        self.budget_usd = settings.run.budget_usd
        self.approval = settings.ramp.approval

    async def verdict(self, store: Store, run_id: str, phase: int, sizes: list[int], last: bool) -> GateVerdict:
        """Judge phases 0..``phase`` from the store; nothing is written."""
        data = await load_run(store, run_id)
        metrics = compute_with_baseline(data, await load_baseline(store, data), phase)
        override = self.ramp.phases[phase].gate if phase < len(self.ramp.phases) else None
        gate = self.ramp.gate.merged(override)
        tier: Tier
        tier, rule, checks = decide_tier(gate, metrics)
        projection = None if last else project(data, phase, sizes, self.budget_usd)
        if projection is not None and projection["within_budget"] is False:
            tier = "STOP"
            rule = (
                f"run.budget_usd: spent ${projection['spent_usd']:.2f} + next phase ~${projection['cost_usd']:.2f}"
                f" > ${self.budget_usd:.2f}"
            )
            for judged in checks:  # the budget decided, not the rule that fired before it
                judged["decided"] = False
            checks.append({"rule": "spent + projected <= run.budget_usd", "metric": "budget", "tier": "budget",
                           "actual": round(projection["spent_usd"] + projection["cost_usd"], 4), "passed": False,
                           "decided": True})
        values: dict[str, Any] = RunMetrics.of(metrics).model_dump()
        values.update(instances=metrics["instances"], finished=metrics["finished"],
                      baseline_run=(metrics["baseline"] or {}).get("run_id"))
        return GateVerdict(
            run_id=run_id, phase=phase, tier=tier, rule=rule, values=values, checks=checks,
            projection=projection or {},
        )

    async def decide(self, ctx: RunContext, phase: int, last: bool) -> str:
        store, run_id = ctx.store, ctx.run_id
        await run_audits(ctx, phase, self.ramp.feedback, self.ramp.regrade)
        waiting_since = await _awaiting_since(store, run_id, phase)
        verdict = await self.verdict(store, run_id, phase, ctx.plan.phases, last)
        await store.update_phase(run_id, phase, tier=verdict.tier, verdict=verdict.model_dump(mode="json"))
        await ctx.emit(verdict)
        if last:
            return "stop" if verdict.tier == "STOP" else "proceed"
        decision, by = await self._decision(ctx, phase, verdict, waiting_since or verdict.ts)
        await store.update_phase(run_id, phase, decision=decision, decided_by=by, decided_at=time.time())
        await ctx.emit(GateDecision(phase=phase, decision=decision, by=by))
        return "proceed" if decision == "approve" else "stop"

    async def _decision(
        self, ctx: RunContext, phase: int, verdict: GateVerdict, since: float
    ) -> tuple[Decision, str]:
        if verdict.projection.get("within_budget") is False:
            await ctx.emit(Alert(level="error", message=f"gate {phase + 1}: {verdict.rule}; the run stops"))
            return "reject", BUDGET
        if self.approval == "auto":
            if verdict.tier == "STOP":
                return "reject", AUTO
            if verdict.tier == "CAUTION":
                await ctx.emit(Alert(
                    level="warning", message=f"gate {phase + 1}: CAUTION ({verdict.rule}); proceeding under auto-approval",
                ))
            return "approve", AUTO
        run_id = ctx.run_id
        await ctx.store.update_phase(run_id, phase, status="awaiting_approval")
        await ctx.emit(Alert(
            level="warning" if verdict.tier in ("STOP", "CAUTION") else "info",
            message=f"gate {phase + 1}: {verdict.tier} ({verdict.rule}); {describe(verdict.projection)}. "
            f"Waiting for approval: `ramp ctl {run_id} approve` or `ramp ctl {run_id} reject` "
            "(a / x in the TUI)",
        ))
        # Decisions are read from the commands table, so one written while the engine was down counts.
        # Only a decision taken after the verdict was first shown counts: an early approve is not a
        # blank cheque.
        while True:
            for command in await ctx.store.commands(run_id):
                if command["command"] in ("approve", "reject") and command["ts"] >= since:
                    return ("approve" if command["command"] == "approve" else "reject"), OPERATOR
            await anyio.sleep(DECISION_POLL_S)


async def _awaiting_since(store: Store, run_id: str, phase: int) -> float | None:
    """When this phase's gate first asked for a decision, if a previous process left it waiting."""
    for row in await store.phases(run_id):
        if row["phase"] == phase and row["status"] == "awaiting_approval" and row["verdict_json"]:
            return float(json.loads(row["verdict_json"])["ts"])
    return None
