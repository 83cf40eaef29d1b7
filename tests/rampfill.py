"""Fill a store through the real Store API, the way the scheduler does, for metric and gate tests.

Each helper writes exactly the rows a scheduler writes for that event (an attempt's start, its
agent result, its official evaluation, a model call), so the metrics under test read what a real
run leaves behind.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from engine.store import Store


async def make_run(
    store: Store, run_id: str, instances: list[tuple[str, str, int]], *, sizes: list[int] | None = None,
    agent: str = "gold", attempts: int = 1, policy: str = "until-resolved", dataset: str = "data.jsonl",
    sha: str = "sha", status: str = "completed", ramp: dict[str, Any] | None = None, budget_usd: float | None = None,
) -> None:
    """A run with (instance_id, repo, phase) instances; phase sizes default to the cumulative counts."""
    config = {
        "run": {"agent": agent, "attempts": attempts, "attempt_policy": policy, "budget_usd": budget_usd},
        "ramp": ramp or {},
    }
    await store.create_run(run_id, config=config, meta={"agent": agent, "dataset": dataset, "dataset_sha": sha,
                                                        "evaluator": "swebench-local"})
    await store.add_instances(run_id, [(iid, repo, phase, pos) for pos, (iid, repo, phase) in enumerate(instances)])
    if sizes is None:
        phases = sorted({p for _, _, p in instances})
        sizes = [sum(1 for _, _, p in instances if p <= phase) for phase in phases]
    await store.set_phases(run_id, [(size, None) for size in sizes])
    await store.update_run(run_id, status=status)


async def attempt(
    store: Store, run_id: str, iid: str, number: int, outcome: str, *, error_class: str | None = None,
    started: float = 0.0, finished: float = 10.0, patch: str | None = None, folder: Path | None = None,
    f2p: tuple[list[str], list[str]] | None = None, p2p: tuple[list[str], list[str]] | None = None,
    graded: bool = True, eval_error: str | None = None,
) -> None:
    """One finished attempt: agent result, official evaluation (unless an error stopped it), outcome."""
    await store.start_attempt(run_id, iid, number)
    fields: dict[str, Any] = {"status": "done", "outcome": outcome, "error_class": error_class,
                              "started_at": started, "finished_at": finished, "agent_s": (finished - started) / 2,
                              "eval_s": (finished - started) / 2}
    if patch is not None and folder is not None:
        path = folder / f"{iid}-{number}.diff"
        path.write_text(patch)
        fields["patch_path"] = str(path)
    await store.update_attempt(run_id, iid, number, **fields)
    if outcome != "error" and graded:
        passed, failed = f2p or ([], [])
        p_passed, p_failed = p2p or ([], [])
        await store.add_evaluation(
            run_id, iid, number, 0, evaluator="fake", resolved=int(outcome == "resolved"), applied=1,
            error_class=eval_error, tests={t: "PASSED" for t in passed + p_passed} | {t: "FAILED" for t in failed + p_failed},
            f2p={"success": passed, "failure": failed}, p2p={"success": p_passed, "failure": p_failed},
        )


async def call(
    store: Store, run_id: str, iid: str | None, *, cost: float = 0.01, latency: float = 1.0, status: str = "ok",
    tokens: tuple[int, int] = (100, 10),
) -> None:
    await store.add_llm_call(
        run_id=run_id, instance_id=iid, attempt=1, model_id="m", provider="p", input_tokens=tokens[0],
        output_tokens=tokens[1], cost_usd=cost, latency_s=latency, status=status,
    )
