"""Start or resume one run: wiring → store → run context → scheduler → summary.

This is the only place that runs the pieces :func:`engine.run.wiring.wire` built; the CLI, the demo
and the TUI's in-process worker all call :func:`execute_run`.
"""

from __future__ import annotations

import os
import platform
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import anyio

from ..core.artifacts import RunFolder
from ..core.config import Settings
from ..core.errors import ConfigError, ExitCode
from ..core.events import Alert, Display, Outcome, RunFinished, RunStarted, Summary
from ..core.secrets import MIN_SECRET_LENGTH
from ..executors import describe
from ..models.base import Model
from ..models.factory import prepare_model
from ..store import Store
from .clusterslots import eval_slots
from .context import Backends, Plan, RunContext, RunOptions
from .gatekeeper import RampGate
from .scheduler import GateKeeper, Scheduler
from .wiring import LISTED_PROBLEMS, PreflightFailed, Wiring, wire

__all__ = ["PreflightFailed", "RunResult", "execute_run", "run_is_live", "summary_metrics"]

#: Settings that define what a run measures; a resumed run must not change them.
IDENTITY_FIELDS = ("dataset", "agent", "model", "evaluator", "attempts", "attempt_policy")


@dataclass
class RunResult:
    run_id: str
    status: str
    exit_code: int
    outcomes: dict[str, Outcome | None]
    summary: Summary | None = None


def _git_sha() -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5,
            cwd=Path(__file__).resolve().parent,
        )
        return out.stdout.strip() or None
    except OSError:
        return None


def _versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for dist in ("ramp", "swebench", "anyio", "pydantic", "textual", "aiosqlite"):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            pass
    return out


def _check_resume(existing: dict[str, Any], settings: Settings, dataset_sha: str | None) -> None:
    import json

    stored = json.loads(existing["config_json"]).get("run", {})
    current = settings.model_dump(mode="json")["run"]
    changed = [f for f in IDENTITY_FIELDS if stored.get(f) != current.get(f)]
    if existing.get("dataset_sha") and dataset_sha and existing["dataset_sha"] != dataset_sha:
        changed.append("dataset content")
    if changed:
        raise ConfigError(
            f"run {existing['run_id']} was started with different {', '.join(changed)}; resume it with "
            "the same settings, or choose a new --run-id",
            field="--run-id",
        )
    if existing.get("pid") != os.getpid() and run_is_live(existing):
        raise ConfigError(
            f"run {existing['run_id']} is still running in process {existing['pid']}; "
            f"use `ramp watch {existing['run_id']}` or `ramp ctl {existing['run_id']} stop`",
            field="--run-id",
        )


#: A run whose heartbeat (written every 5 s) is older than this has no live process.
LIVE_HEARTBEAT_S = 60.0


def run_is_live(run: dict[str, Any]) -> bool:
    """Whether a process is executing this run now: it says running or paused, its heartbeat is
    fresh, and, when it runs on this host, its process exists."""
    if run["status"] not in ("running", "paused") or not run.get("pid"):
        return False
    if time.time() - (run.get("heartbeat") or 0) >= LIVE_HEARTBEAT_S:
        return False
    return run.get("host") not in (None, platform.node()) or _pid_alive(run["pid"])


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


async def execute_run(
    settings: Settings,
    *,
    display: Display,
    run_id: str | None = None,
    gate: GateKeeper | None = None,
    model: Model | None = None,
    on_scheduler: Callable[[Scheduler], None] | None = None,
) -> RunResult:
    """Run (or resume) to the end and return the outcome. Raises ConfigError for bad input."""
    wiring = await wire(settings, run_id)
    run_id, redact, dataset = wiring.run_id, wiring.redact, wiring.dataset
    runs_dir = settings.paths.runs_dir
    instances, phases, evaluator = wiring.instances, wiring.phases, wiring.evaluator

    store = await Store(runs_dir / "ramp.sqlite", redact=redact).open()
    model_in_use: Model | None = None

    async def emit_model_event(event: Any) -> None:  # model calls start after `ctx` exists
        await ctx.emit(event)

    try:
        existing = await store.get_run(run_id)
        if existing is not None:
            _check_resume(existing, settings, dataset.sha256)
        checks = [c for c in await wiring.checks(store_wal=store.wal) if not c.ok]
        prepared = await prepare_model(
            settings, needs_model=wiring.agent.needs_model, given=model, store=store, run_id=run_id,
            secrets=wiring.credentials, redact=redact, emit=emit_model_event,
        )
        model_in_use = prepared.model
        checks += [c for c in prepared.checks if not c.ok]
        if checks:
            raise PreflightFailed(checks)

        folder = RunFolder(runs_dir, run_id, redact=redact)
        config_dump = settings.model_dump(mode="json")
        folder.write_manifest({
            "run_id": run_id,
            "created_at": existing["created_at"] if existing else time.time(),
            "versions": _versions(),
            "git_sha": _git_sha(),
            "config": config_dump,
            "dataset": {
                "spec": settings.run.dataset, "source": dataset.source, "sha256": dataset.sha256,
                "lock": dataset.lock_entry, "rows": len(dataset.rows),
                "problems": [str(p) for p in dataset.problems],
            },
            "repo_source": wiring.repo_source,
            "executor": describe(settings),
            "instances": [i.instance_id for i in instances],
            "phases": phases,
        })
        plan = Plan.of(instances, phases)
        expired = await _record_run(store, settings, wiring, plan, config_dump, existing)
        ctx = RunContext(
            run_id=run_id, store=store, folder=folder, options=run_options(settings, wiring.model_label),
            backends=Backends(wiring.agent, evaluator, wiring.sandboxes, prepared.model),
            governor=eval_slots(settings, runs_dir), display=display, plan=plan,
        )
        scheduler = Scheduler(ctx, gate=gate if gate is not None else RampGate(settings))
        await ctx.emit(RunStarted(
            agent=settings.run.agent, model=wiring.model_label, evaluator=evaluator.name,
            dataset=settings.run.dataset, instances=len(instances), attempts=settings.run.attempts,
            phases=phases, resumed=existing is not None, pid=os.getpid(),
            finished_attempts=sum(a["status"] == "done" for a in await store.attempts(run_id)) if existing else 0,
        ))
        for alert in _start_alerts(wiring, folder, expired):
            await ctx.emit(alert)
        requeued = await scheduler.restore() if existing is not None else 0
        if existing is not None:
            folder.rebuild_predictions(await _predictions(store, run_id, ctx.options.model_name))
        if requeued:
            await ctx.emit(Alert(level="info", message=f"resumed: {requeued} attempt(s) in flight are re-run"))
        for check in prepared.checks:
            if check.warning:
                await ctx.emit(Alert(level="warning", message=f"preflight: {check.line()}"))
        if on_scheduler is not None:
            on_scheduler(scheduler)
        status = await scheduler.run()
        outcomes = scheduler.outcomes()
        # A budget or quota stop is a limit firing, like a gate's STOP: the run did not go on.
        exit_code = ExitCode.GATE_STOP if scheduler.budget_stop else _exit_code(status, await store.attempts(run_id))
        with anyio.CancelScope(shield=True):
            summary = Summary(
                status=status, exit_code=exit_code, outcomes=outcomes,
                metrics=await summary_metrics(store, run_id), skipped_rows=len(dataset.problems),
            )
            await store.update_run(run_id, status=status, exit_code=exit_code)
            await ctx.emit(RunFinished(status=status, exit_code=exit_code, reason=scheduler.stop_reason))
            await ctx.emit(summary)
        return RunResult(run_id, status, exit_code, outcomes, summary)
    finally:
        with anyio.CancelScope(shield=True):  # also when preflight refused the run
            await wiring.aclose()
            if model_in_use is not None:
                await model_in_use.aclose()
            await store.close()


def run_options(settings: Settings, model_label: str | None = None) -> RunOptions:
    run = settings.run
    return RunOptions(
        attempts=run.attempts, attempt_policy=run.attempt_policy, max_retries=run.max_retries,
        retry_backoff_s=run.retry_backoff_s, agent_concurrency=run.agent_concurrency, budgets=run.budgets,
        model_name=run.model or model_label or run.agent, public_share=settings.ramp.feedback.public_share,
        split_seed=settings.ramp.feedback.seed,
    )


async def _record_run(
    store: Store, settings: Settings, wiring: Wiring, plan: Plan, config: dict[str, Any],
    existing: dict[str, Any] | None,
) -> list[dict[str, Any]]:
    """The run row, its instances and its gates, in one transaction; on resume, the rows a crash
    kept an older Ramp from writing, and the commands that expire. Returns the expired commands."""
    rows = [(iid, inst.repo, plan.phase_of[iid], pos) for pos, (iid, inst) in enumerate(plan.instances.items())]
    names = [p.name for p in settings.ramp.phases]
    phase_rows = [(size, names[i] if i < len(names) else None) for i, size in enumerate(plan.phases)]
    if existing is None:
        await store.create_run(wiring.run_id, config=config, meta={
            "agent": settings.run.agent, "model": wiring.model_label, "evaluator": wiring.evaluator.name,
            "dataset": settings.run.dataset, "dataset_sha": wiring.dataset.sha256, "pid": os.getpid(),
            "host": platform.node(),
        }, instances=rows, phases=phase_rows)
        return []
    # Every instance and every gate of the plan is in the store before anything runs.
    await store.resume_run(
        wiring.run_id, instances=rows, phases=phase_rows,
        status="running", pid=os.getpid(), host=platform.node(), exit_code=None,
    )
    # A pause or stop queued while the run was down must not surprise the resumed run.
    # Reruns still apply; approve and reject are read by the waiting gate itself.
    return await store.expire_commands(wiring.run_id, ("pause", "resume", "stop"))


def _start_alerts(wiring: Wiring, folder: RunFolder, expired: list[dict[str, Any]]) -> list[Alert]:
    """What the operator should know as the run starts: skipped rows, short credentials, commands
    that expired while it was down, scratch folders swept."""
    problems = wiring.dataset.problems
    alerts = [Alert(level="warning", message=f"dataset row skipped: {problem}") for problem in problems[:LISTED_PROBLEMS]]
    if len(problems) > LISTED_PROBLEMS:
        alerts.append(Alert(level="warning", message=(
            f"{len(problems) - LISTED_PROBLEMS} more dataset row(s) skipped; every one is listed "
            f"in {folder.manifest_path}"
        )))
    for name in wiring.credentials.short():
        alerts.append(Alert(level="warning", message=(
            f"credential {name} is shorter than {MIN_SECRET_LENGTH} characters: it is redacted wherever it "
            "stands as a whole word, which may also hide ordinary text equal to it; a real key is longer"
        )))
    for command in expired:
        alerts.append(Alert(level="warning", message=(
            f"command #{command['id']} `{command['command']}`, queued while no process ran this run, "
            "is not replayed now: give it again if it still holds"
        )))
    alerts += [Alert(level="warning", message=note) for note in wiring.notes]
    if wiring.swept:
        alerts.append(Alert(level="info", message=(
            f"removed {len(wiring.swept)} scratch folder(s) that killed Ramp processes left under "
            f"{wiring.settings.paths.resolved_cache_dir()}"
        )))
    return alerts


def _exit_code(status: str, attempts: list[dict[str, Any]]) -> int:
    """DESIGN.md's exit codes. Interruption first; then infrastructure (an instance whose every
    attempt failed on infra was never measured, whatever the gate made of the rest); then STOP."""
    if status in ("interrupted", "stopped"):
        return ExitCode.INTERRUPTED
    final: dict[str, list[dict[str, Any]]] = {}
    for a in attempts:
        final.setdefault(a["instance_id"], []).append(a)
    for rows in final.values():
        if all(r["outcome"] == "error" and r["error_class"] == "infra" for r in rows):
            return ExitCode.INFRA
    if status == "gate_stop":
        return ExitCode.GATE_STOP
    return ExitCode.OK


async def _predictions(store: Store, run_id: str, model_name: str) -> list[dict[str, Any]]:
    out = []
    for a in await store.attempts(run_id):
        if a["status"] in ("agent_done", "done") and a["patch_path"] and os.path.exists(a["patch_path"]):
            patch = Path(a["patch_path"]).read_text(encoding="utf-8")
            out.append(RunFolder.prediction(a["instance_id"], a["attempt"], model_name, patch))
    return out


async def summary_metrics(store: Store, run_id: str) -> dict[str, Any]:
    """Metrics and gate verdicts computed from the store (engine.results.metrics), so a resumed or attached
    run reports the same figures."""
    from ..results.leaderboard import gate_summary
    from ..results.metricscache import cached_metrics

    runs = await store.list_runs()
    metrics = await cached_metrics(store, next(r for r in runs if r["run_id"] == run_id), runs)
    metrics["gates"] = gate_summary(await store.phases(run_id))
    return metrics


