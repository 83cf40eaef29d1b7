"""A deterministic store for the TUI's snapshot tests, filled through the real Store API.

Every timestamp is fixed (``T0`` plus an offset) and every id is chosen, so the screens drawn from
it are the same on every machine. Two runs: ``nightly-1`` is mid-way through its third phase (every
pipeline state is on screen), ``pilot-1`` waits at its second gate for approval.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from engine.core.events import (
    AgentStep,
    Alert,
    AttemptFinished,
    EvaluationDone,
    EventBase,
    GateDecision,
    GateVerdict,
    GovernorSample,
    LLMCall,
    PhaseFinished,
    PhaseStarted,
    RunStarted,
    StateChanged,
)
from engine.core.gates import GateConfig, decide_tier
from engine.store import Store

T0 = 1_767_225_600.0  # 2026-01-01 00:00:00 UTC
NOW = T0 + 1500.0

IDS = [
    ("astropy__astropy-12907", "astropy/astropy"), ("django__django-11099", "django/django"),
    ("django__django-11133", "django/django"), ("psf__requests-2317", "psf/requests"),
    ("pytest-dev__pytest-5227", "pytest-dev/pytest"), ("sympy__sympy-20590", "sympy/sympy"),
    ("scikit-learn__scikit-learn-13142", "scikit-learn/scikit-learn"), ("pallets__flask-4992", "pallets/flask"),
    ("matplotlib__matplotlib-23314", "matplotlib/matplotlib"), ("sphinx-doc__sphinx-8435", "sphinx-doc/sphinx"),
    ("pylint-dev__pylint-7080", "pylint-dev/pylint"), ("pydata__xarray-4094", "pydata/xarray"),
    ("mwaskom__seaborn-3190", "mwaskom/seaborn"), ("sympy__sympy-24152", "sympy/sympy"),
]
PATCH = """diff --git a/{path} b/{path}
--- a/{path}
+++ b/{path}
@@ -10,7 +10,8 @@ def separability_matrix(transform):
     if transform.n_inputs == 1:
         return np.ones((transform.n_outputs, 1), dtype=bool)
-    cright = _coord_matrix(right, 'right', noutp)
+    cright = np.zeros((noutp, right.shape[1]))
+    cright[-right.shape[0]:, -right.shape[1]:] = right
     return np.hstack([cleft, cright])
"""
STEPS = ("localize", "read", "edit", "test", "submit")


class Filler:
    """Writes what the scheduler writes, at fixed times."""

    def __init__(self, store: Store, run_id: str, folder: Path):
        self.store, self.run_id, self.folder = store, run_id, folder

    async def emit(self, event: EventBase, at: float) -> None:
        event.run_id, event.ts = self.run_id, T0 + at
        await self.store.append(event)

    async def walk(self, iid: str, n: int, states: list[str], at: float, sub: str = "edit") -> float:
        """State events through ``states``; agent steps under ``agent``; returns the time reached."""
        previous = "queued" if n > 1 or states[0] != "queued" else None
        for state in states:
            await self.emit(StateChanged(instance_id=iid, attempt=n, from_state=previous, to_state=state), at)
            if state == "preparing":
                await self.store.start_attempt(self.run_id, iid, n)
                await self.store.update_attempt(self.run_id, iid, n, started_at=T0 + at)
            if state == "agent":
                for step, name in enumerate(STEPS[: STEPS.index(sub) + 1]):
                    at += 7
                    await self.emit(AgentStep(instance_id=iid, attempt=n, step=step, sub_state=name,
                                              summary=f"{name}: {iid.split('__')[0]} step {step}"), at)
                    await self.call(iid, n, at, step)
            previous = state
            at += 11
        await self.store.set_instance(self.run_id, iid, state=states[-1], attempt=n)
        return at

    async def call(self, iid: str, n: int, at: float, step: int) -> None:
        tokens_in, tokens_out, latency = 1800 + 250 * step, 120 + 40 * step, 0.6 + 0.35 * step
        cost = round((tokens_in * 0.22 + tokens_out * 0.95) / 1e6, 6)
        await self.store.add_llm_call(run_id=self.run_id, instance_id=iid, attempt=n, ts=T0 + at, model_id="qwen3-coder",
                                      provider="openrouter", input_tokens=tokens_in, output_tokens=tokens_out,
                                      cost_usd=cost, latency_s=latency, status="ok")
        await self.emit(LLMCall(instance_id=iid, attempt=n, model_id="qwen3-coder", provider="openrouter",
                                input_tokens=tokens_in, output_tokens=tokens_out, cost_usd=cost,
                                latency_s=latency, ttft_s=0.2), at)

    async def attempt(self, iid: str, n: int, outcome: str, at: float, error_class: str | None = None) -> float:
        """A finished attempt: states, steps, calls, patch, evaluation and outcome."""
        if error_class == "model_format":
            at = await self.walk(iid, n, ["queued", "preparing", "agent"] if n == 1 else ["preparing", "agent"], at)
            at = await self.walk(iid, n, ["error"], at)
            await self.store.update_attempt(self.run_id, iid, n, status="done", outcome="error",
                                            error_class=error_class, detail="3 replies without an edit block",
                                            finished_at=T0 + at, agent_s=40.0)
            await self.emit(AttemptFinished(instance_id=iid, attempt=n, outcome="error", error_class="model_format",
                                            detail="3 replies without an edit block", agent_s=40.0), at)
            await self.store.set_instance(self.run_id, iid, outcome="error", error_class=error_class)
            return at
        first = ["queued", "preparing", "agent"] if n == 1 else ["preparing", "agent"]
        at = await self.walk(iid, n, [*first, "patched", "eval_queued", "evaluating"], at, sub="submit")
        attempt_dir = self.folder / f"{iid}.{n}"
        attempt_dir.mkdir(parents=True, exist_ok=True)
        (attempt_dir / "patch.diff").write_text(PATCH.format(path=f"{iid.split('__')[1].split('-')[0]}/core.py"))
        (attempt_dir / "trajectory.json").write_text(json.dumps(trajectory(iid)))
        (attempt_dir / "test_output.txt").write_text(
            "".join(f"tests/test_core.py::test_case_{i} PASSED\n" for i in range(8))
            + ("tests/test_core.py::test_separable FAILED\n" if outcome != "resolved" else "")
            + f"=== {8 if outcome != 'resolved' else 9} tests ran ===\n")
        resolved = outcome == "resolved"
        f2p = {"success": ["tests/test_core.py::test_separable"] if resolved else [],
               "failure": [] if resolved else ["tests/test_core.py::test_separable"]}
        p2p = {"success": [f"tests/test_core.py::test_case_{i}" for i in range(8)], "failure": []}
        await self.store.add_evaluation(self.run_id, iid, n, 0, evaluator="swebench-local", resolved=int(resolved),
                                        applied=1, tests={}, f2p=f2p, p2p=p2p,
                                        log_path=str(attempt_dir / "test_output.txt"), duration_s=12.0)
        await self.emit(EvaluationDone(instance_id=iid, attempt=n, resolved=resolved, applied=True,
                                       f2p_passed=len(f2p["success"]), f2p_total=1, p2p_passed=8, p2p_total=8,
                                       duration_s=12.0), at)
        at = await self.walk(iid, n, [outcome], at)
        await self.store.update_attempt(
            self.run_id, iid, n, status="done", outcome=outcome, finished_at=T0 + at, agent_s=48.0, eval_s=12.0,
            patch_path=str(attempt_dir / "patch.diff"), log_path=str(attempt_dir / "test_output.txt"),
            trajectory_path=str(attempt_dir / "trajectory.json"),
        )
        await self.emit(AttemptFinished(instance_id=iid, attempt=n, outcome=outcome, agent_s=48.0, eval_s=12.0,
                                        patch_bytes=400), at)
        await self.store.set_instance(self.run_id, iid, outcome=outcome)
        return at

    async def gate(self, phase: int, tier_values: dict[str, Any], at: float, decision: str | None) -> None:
        await self.emit(PhaseFinished(phase=phase), at)
        gate = GateConfig()
        tier, rule, checks = decide_tier(gate, tier_values)
        projection = {"next_phase": phase + 1, "next_size": 8 + 6 * phase, "new_instances": 4 + 2 * phase,
                      "basis_instances": 4 + 4 * phase, "spent_usd": 0.05, "budget_usd": 5.0, "cost_usd": 0.04,
                      "calls": 20, "attempts": 5, "wall_s": 380.0, "concurrency": 2.0, "within_budget": True}
        verdict = GateVerdict(phase=phase, tier=tier, rule=rule, values=tier_values, checks=checks,
                              projection=projection)
        await self.emit(verdict, at)
        await self.store.update_phase(self.run_id, phase, tier=tier, verdict=verdict.model_dump(mode="json"),
                                      status="done" if decision else "awaiting_approval")
        if decision:
            await self.store.update_phase(self.run_id, phase, decision=decision, decided_by="operator",
                                          decided_at=T0 + at + 5)
            await self.emit(GateDecision(phase=phase, decision=decision, by="operator"), at + 5)  # type: ignore[arg-type]


def trajectory(iid: str) -> dict[str, Any]:
    """A mini-swe-agent style trajectory: messages with roles, a tool call, observations, an exit."""
    module = f"{iid.split('__')[1].split('-')[0]}/core.py"
    return {"trajectory_format": "mini-swe-agent-1.1", "info": {"exit_status": "Submitted"}, "messages": [
        {"role": "system", "content": "You are a helpful assistant that can interact with a computer shell."},
        {"role": "user", "content": f"<pr_description>\n{iid}: separability is wrong for nested models\n</pr_description>"},
        {"role": "assistant", "content": "THOUGHT: look at the module first.",
         "tool_calls": [{"function": {"name": "bash", "arguments": json.dumps({"command": f"sed -n 1,20p {module}"})}}]},
        {"role": "tool", "content": "<returncode>0</returncode>\n<output>\ndef separable(a, b):\n    return a & b\n</output>"},
        {"role": "assistant", "content": f"THOUGHT: fix it.\n\n```mswea_bash_command\nsed -i 's/a & b/a | b/' {module}\n```"},
        {"role": "user", "content": "<returncode>0</returncode>\n<output>\n</output>"},
        {"role": "exit", "content": "Submitted"},
    ]}


async def make_run(store: Store, runs_dir: Path, run_id: str, sizes: list[int], agent: str = "direct-edit") -> Filler:
    config = {"run": {"agent": agent, "model": "qwen3-coder", "attempts": 2, "budget_usd": 5.0,
                      "attempt_policy": "until-resolved"},
              "ramp": {"approval": "manual", "phases": [{"size": s} for s in sizes]}}
    await store.create_run(run_id, config=config, meta={
        "agent": agent, "model": "qwen3-coder", "evaluator": "swebench-local", "dataset": "swe-lite-dev",
        "dataset_sha": "f00d", "pid": 4242, "host": "ramp-box"})
    ids = IDS[: sizes[-1]]
    await store.add_instances(run_id, [(iid, repo, next(i for i, s in enumerate(sizes) if pos < s), pos)
                                       for pos, (iid, repo) in enumerate(ids)])
    await store.set_phases(run_id, [(s, name) for s, name in zip(sizes, ("smoke", "pilot", "full"), strict=False)])
    filler = Filler(store, run_id, runs_dir / run_id / "attempts")
    await filler.emit(RunStarted(agent=agent, model="qwen3-coder", evaluator="swebench-local",
                                 dataset="swe-lite-dev", instances=len(ids), attempts=2, phases=sizes, pid=4242), 0)
    await store.update_run(run_id, created_at=T0, heartbeat=NOW - 2)
    return filler


async def fill(runs_dir: Path) -> None:
    """Both runs, in one store at runs_dir/ramp.sqlite."""
    async with Store(runs_dir / "ramp.sqlite") as store:
        await _nightly(store, runs_dir)
        await _pilot(store, runs_dir)


async def _nightly(store: Store, runs_dir: Path) -> None:
    f = await make_run(store, runs_dir, "nightly-1", [4, 8, 14])
    ids = [iid for iid, _ in IDS]
    await f.emit(PhaseStarted(phase=0, size=4, instance_ids=ids[:4]), 1)
    await store.update_phase("nightly-1", 0, status="running")
    await f.attempt(ids[0], 1, "resolved", 2)
    await f.attempt(ids[1], 1, "unresolved", 5)
    await f.attempt(ids[1], 2, "resolved", 190)
    await f.attempt(ids[2], 1, "error", 8, error_class="model_format")
    await f.attempt(ids[3], 1, "resolved", 12)
    await f.gate(0, {"resolved_rate": 0.75, "infra_failure_rate": 0.0, "cost_per_instance": 0.004,
                     "ci_width": 0.6, "overfit_gap": None}, 400, "approve")
    await f.emit(PhaseStarted(phase=1, size=8, instance_ids=ids[:8]), 410)
    for i, outcome in zip(range(4, 8), ("unresolved", "resolved", "resolved", "unresolved"), strict=True):
        await f.attempt(ids[i], 1, outcome, 410 + 9 * i)
    await f.gate(1, {"resolved_rate": 0.625, "infra_failure_rate": 0.0, "cost_per_instance": 0.004,
                     "ci_width": 0.5, "overfit_gap": None}, 900, "approve")
    await f.emit(PhaseStarted(phase=2, size=14, instance_ids=ids), 910)
    await store.update_phase("nightly-1", 1, status="done")
    await store.update_phase("nightly-1", 2, status="running")
    await f.attempt(ids[8], 1, "resolved", 920)
    await f.walk(ids[9], 1, ["queued", "preparing", "agent", "patched", "eval_queued", "evaluating"], 1300, "submit")
    await f.walk(ids[10], 1, ["queued", "preparing", "agent"], 1380, "edit")
    await f.walk(ids[11], 1, ["queued", "preparing", "agent", "no_patch", "eval_queued"], 1350, "submit")
    await f.walk(ids[12], 1, ["queued", "preparing"], 1480)
    await f.walk(ids[13], 1, ["queued"], 1490)
    await f.emit(GovernorSample(cpu_percent=63.5, memory_available_mb=18_432, disk_free_mb=80_000, running_evals=1,
                                waiting_evals=1), 1495)
    await f.emit(Alert(level="warning", instance_id=ids[5], message=f"{ids[5]} attempt 1: rate_limit: HTTP 429; "
                                                                    "retry 1 of 2"), 1460)


async def _pilot(store: Store, runs_dir: Path) -> None:
    f = await make_run(store, runs_dir, "pilot-1", [4, 8], agent="bash")
    ids = [iid for iid, _ in IDS]
    await f.emit(PhaseStarted(phase=0, size=4, instance_ids=ids[:4]), 1)
    for i, outcome in enumerate(("resolved", "unresolved", "unresolved", "unresolved")):
        await f.attempt(ids[i], 1, outcome, 2 + 5 * i)
    await f.gate(0, {"resolved_rate": 0.25, "infra_failure_rate": 0.0, "cost_per_instance": 0.004,
                     "ci_width": 0.6, "overfit_gap": None}, 300, None)
    await store.update_run("pilot-1", status="running")


async def wait_for(pilot: Any, condition: Any, timeout: float = 120.0, what: str = "condition") -> None:
    """Let the app run until ``condition()`` holds (the engine and the feed work in the background)."""
    import time

    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await pilot.pause(0.1)
