"""Extra evaluations a gate runs before it judges: flakiness re-grades and bug reproduction.

Both go through the run's own evaluator, inside the governor's evaluation lane, so they are graded
exactly like the official evaluation and never overload the host. Their results are evaluation rows
under their own ``grade`` number (:data:`~engine.results.metrics.GRADE_REGRADE` and the two
bug-reproduction grades), so the metrics read them from the store like everything else, and a
resumed run does not run an audit twice.

- **Re-grade**: a reproducible sample (``ramp.regrade``) of the cleanly graded attempts is graded a
  second time with the same patch. A re-grade that disagrees is recorded with error class
  ``eval_flaky`` and raised as an alert; the official grade stays the verdict.
- **Bug reproduction** (``ramp.feedback.bug_reproduction``): when the representative attempt's patch
  adds or changes test files, those tests run on the base commit and on base + the patch's source
  part. A test that passes after and did not pass before reproduces the bug.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import anyio

from ..core.errors import AttemptError
from ..core.events import Alert
from ..core.feedback import FeedbackConfig, RegradeConfig, chosen, split_patch
from ..evaluators.base import EvalRequest, EvalResult
from ..results.metrics import (
    GRADE_OFFICIAL,
    GRADE_REGRADE,
    GRADE_REPRO_BASE,
    GRADE_REPRO_FIX,
    representative,
    reproducing_tests,
)

if TYPE_CHECKING:
    from .context import RunContext


async def run_audits(ctx: RunContext, phase: int, feedback: FeedbackConfig, regrade: RegradeConfig) -> None:
    """Run the audits the config asks for on phases 0..``phase``, concurrently, under the governor."""
    store, run_id = ctx.store, ctx.run_id
    ids = set(ctx.plan.through(phase))
    grades: dict[tuple[str, int], dict[int, dict[str, Any]]] = {}
    for evaluation in await store.evaluations(run_id):
        grades.setdefault((evaluation["instance_id"], evaluation["attempt"]), {})[evaluation["grade"]] = evaluation
    by_instance: dict[str, list[dict[str, Any]]] = {}
    for attempt in await store.attempts(run_id):
        if attempt["instance_id"] in ids and attempt["status"] == "done":
            by_instance.setdefault(attempt["instance_id"], []).append(attempt)
    jobs: list[tuple[str, dict[str, Any]]] = []
    for iid, attempts in by_instance.items():
        for attempt in attempts:
            official = grades.get((iid, attempt["attempt"]), {})
            row = official.get(GRADE_OFFICIAL)
            if row is None or row["error_class"] is not None or GRADE_REGRADE in official:
                continue
            share = regrade.resolved if row["resolved"] else regrade.unresolved
            if chosen(share, regrade.seed, run_id, iid, attempt["attempt"]):
                jobs.append(("regrade", attempt))
        rep = representative(attempts)
        if feedback.bug_reproduction and rep is not None and rep["patch_path"]:
            if GRADE_REPRO_FIX not in grades.get((iid, rep["attempt"]), {}):
                jobs.append(("repro", rep))
    async with anyio.create_task_group() as tg:
        for kind, attempt in jobs:
            tg.start_soon(_regrade if kind == "regrade" else _reproduce, ctx, attempt, grades)


def _patch(attempt: dict[str, Any]) -> str | None:
    try:
        with open(attempt["patch_path"], encoding="utf-8") as fh:
            return fh.read()
    except (OSError, TypeError):
        return None


async def _evaluate(ctx: RunContext, attempt: dict[str, Any], label: str, **request: Any) -> EvalResult | None:
    """One audit evaluation; an evaluator failure is an alert, never a verdict about the patch."""
    iid, number = attempt["instance_id"], attempt["attempt"]
    log_dir = ctx.folder.attempt_dir(iid, number) / label
    request.setdefault("instance", ctx.plan.instances[iid])
    try:
        async with ctx.governor.eval_slot():
            return await ctx.backends.evaluator.evaluate(EvalRequest(
                log_dir=log_dir, run_id=ctx.run_id,
                key=ctx.attempt_key(iid, number, label), **request,
            ))
    except AttemptError as exc:
        await ctx.emit(Alert(
            level="warning", instance_id=iid,
            message=f"{iid} attempt {number}: {label} could not be evaluated ({exc.error_class}: {exc})",
        ))
        return None


async def _record(ctx: RunContext, attempt: dict[str, Any], grade: int, result: EvalResult, **extra: Any) -> None:
    fields = {
        "evaluator": ctx.backends.evaluator.name, "resolved": int(result.resolved),
        "applied": int(result.applied), "error_class": result.error_class, "detail": result.detail,
        "tests": result.tests, "f2p": result.fail_to_pass.model_dump(), "p2p": result.pass_to_pass.model_dump(),
        "log_path": result.log_path, "duration_s": result.duration_s, "setup_s": result.setup_s,
    }
    fields.update(extra)
    await ctx.store.add_evaluation(ctx.run_id, attempt["instance_id"], attempt["attempt"], grade, **fields)


async def _regrade(ctx: RunContext, attempt: dict[str, Any], grades: dict[Any, Any]) -> None:
    iid, number = attempt["instance_id"], attempt["attempt"]
    patch = _patch(attempt)
    if patch is None:
        return
    result = await _evaluate(ctx, attempt, "regrade", patch=patch)
    if result is None:
        return
    official = bool(grades[(iid, number)][GRADE_OFFICIAL]["resolved"])
    if result.resolved == official or result.error_class is not None:
        await _record(ctx, attempt, GRADE_REGRADE, result)
        return
    said = {True: "resolved", False: "unresolved"}
    detail = f"re-grade says {said[result.resolved]}, the official grade said {said[official]}"
    await _record(ctx, attempt, GRADE_REGRADE, result, error_class="eval_flaky", detail=detail)
    await ctx.emit(Alert(level="warning", instance_id=iid, message=f"{iid} attempt {number}: eval_flaky: {detail}"))


async def _reproduce(ctx: RunContext, attempt: dict[str, Any], grades: dict[Any, Any]) -> None:
    iid = attempt["instance_id"]
    patch = _patch(attempt)
    if patch is None:
        return
    source, tests = split_patch(patch)
    if not tests:
        return
    # The agent's tests take the place of the row's; a separate id keeps any per-instance evaluator
    # cache (gold validation) apart from the official instance.
    instance = ctx.plan.instances[iid].model_copy(update={
        "instance_id": f"{iid}__ramp-repro", "test_patch": tests, "FAIL_TO_PASS": [], "PASS_TO_PASS": [],
    })
    base = await _evaluate(ctx, attempt, "repro-base", instance=instance, patch="")
    fix = await _evaluate(ctx, attempt, "repro-fix", instance=instance, patch=source)
    if base is None or fix is None:
        return
    await _record(ctx, attempt, GRADE_REPRO_BASE, base, detail="agent's tests on the base commit")
    await _record(ctx, attempt, GRADE_REPRO_FIX, fix, detail="agent's tests on base + its fix")
    passing = reproducing_tests(base.tests, fix.tests)
    if passing:
        await ctx.emit(Alert(
            level="info", instance_id=iid,
            message=f"{iid}: the agent's tests reproduce the bug ({json.dumps(passing[:3])})",
        ))
