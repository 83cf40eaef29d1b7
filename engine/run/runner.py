"""Start or resume one run: settings → dataset → selection → backends → scheduler → summary.

This is the only place that wires the pieces together; the CLI, the demo and the TUI's in-process
worker all call :func:`execute_run`.
"""

from __future__ import annotations

import os
import platform
import secrets
import subprocess
import time
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import anyio

from ..agents import AGENTS
from ..core.artifacts import MAX_ID_LENGTH, RunFolder, id_problem, shown_id
from ..core.config import Settings
from ..core.errors import ConfigError, ExitCode, RampError
from ..core.events import Alert, RunFinished, RunStarted, Summary
from .preflight import Check, backend_checks, host_checks
from ..core.secrets import MIN_SECRET_LENGTH, RedactingDisplay, Redactor, Secrets
from ..core.secrets import install as install_redactor
from ..datasets.rows import SWEInstance
from ..evaluators import build_evaluator
from ..models.factory import prepare_model
from ..sandbox import build_sandbox_factory
from ..store import Store
from ..workspace.repos import DEFAULT_SOURCE, RepoCache
from ..workspace.scratch import sweep_cache
from .display import Display
from .gatekeeper import RampGate
from .governor import Governor
from .scheduler import GateKeeper, Scheduler, SchedulerOptions

#: Settings that define what a run measures; a resumed run must not change them.
IDENTITY_FIELDS = ("dataset", "agent", "model", "evaluator", "attempts", "attempt_policy")


@dataclass
class RunResult:
    run_id: str
    status: str
    exit_code: int
    outcomes: dict[str, str | None]
    summary: Summary | None = None


def new_run_id(agent: str) -> str:
    return f"{time.strftime('%Y%m%d-%H%M%S')}-{agent}-{secrets.token_hex(2)}"


def check_run_id(run_id: str, field: str = "--run-id") -> None:
    """Refuse a run id that cannot name a folder (``..``, a separator, 5,000 characters), before
    anything is written: the run folder is ``<runs_dir>/<run_id>``."""
    if problem := id_problem(run_id):
        raise ConfigError(
            f"run id {shown_id(run_id)} is not usable: {problem}; use letters, digits, '.', '_' and '-' "
            f"(at most {MAX_ID_LENGTH} characters)",
            field=field,
        )


def phase_sizes(requested: list[int], available: int) -> list[int]:
    """Clip the ramp plan to the instances available: [5, 10, 30] over 12 gives [5, 10, 12]."""
    if not requested:
        return [available]
    sizes: list[int] = []
    for size in requested:
        size = min(size, available)
        if not sizes or size > sizes[-1]:
            sizes.append(size)
    return sizes


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


#: How many dataset problems a message or the alerts list before counting the rest.
LISTED_PROBLEMS = 20


def describe_problems(problems: list[Any]) -> str:
    """The dataset rows that were skipped, each with its file, line and reason."""
    lines = [f"  skipped: {p}" for p in problems[:LISTED_PROBLEMS]]
    if len(problems) > LISTED_PROBLEMS:
        lines.append(f"  ... and {len(problems) - LISTED_PROBLEMS} more (all in the run's manifest.json)")
    return f"{len(problems)} dataset row(s) skipped (run.on_malformed: refuse stops instead):\n" + "\n".join(lines)


async def prepare_instances(settings: Settings) -> tuple[Any, list[SWEInstance], list[int]]:
    """Load the dataset, select instances in order, and clip the phase plan to them."""
    from ..datasets import resolve_dataset, select

    run = settings.run
    try:
        dataset = resolve_dataset(
            run.dataset,
            lock_path=settings.paths.lock_file,
            cache_dir=settings.paths.resolved_cache_dir(),
            on_malformed=run.on_malformed,
        )
    except ConfigError as exc:
        raise settings.located(exc, "run", "dataset") from None
    wanted = max(settings.phase_sizes(), default=0) or None
    if run.limit is not None:
        wanted = min(wanted or run.limit, run.limit)
    try:
        chosen = select(
            dataset.rows,
            ids=run.instances or None,
            slice_file=run.slice,
            n=wanted,
            seed=run.seed,
        )
    except ConfigError as exc:
        if not dataset.problems:
            raise
        raise type(exc)(f"{exc}\n{describe_problems(dataset.problems)}") from None
    if not chosen:
        why = f"\n{describe_problems(dataset.problems)}" if dataset.problems else ""
        raise ConfigError(f"no instances selected from {dataset.source}{why}", field="run.instances")
    return dataset, chosen, phase_sizes(settings.phase_sizes(), len(chosen))


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
    model: Any = None,
    on_scheduler: Any = None,
) -> RunResult:
    """Run (or resume) to the end and return the outcome. Raises ConfigError for bad input."""
    credentials = Secrets.load(settings.paths.secrets_file)
    redact = Redactor.for_secrets(credentials)
    install_redactor(redact)  # logs, and writers that use engine.core.secrets.current()
    display = RedactingDisplay(display, redact)
    runs_dir = settings.paths.runs_dir
    cache_dir = settings.paths.resolved_cache_dir()
    run_id = run_id or new_run_id(settings.run.agent)
    check_run_id(run_id)
    # Checkouts and worktrees that killed processes left (code, perhaps a secret an agent wrote).
    swept = await anyio.to_thread.run_sync(sweep_cache, cache_dir)
    try:
        agent_cls = AGENTS.get(settings.run.agent)
    except ConfigError as exc:
        raise settings.located(exc, "run", "agent") from None
    agent_cfg_cls = getattr(agent_cls, "Config", None)
    agent_cfg = (
        settings.backend_config(agent_cfg_cls, "agents", settings.run.agent) if agent_cfg_cls is not None else None
    )
    agent = agent_cls(agent_cfg) if agent_cfg is not None else agent_cls()
    dataset, instances, phases = await prepare_instances(settings)
    repo_source = settings.run.repo_source or dataset.repo_source or DEFAULT_SOURCE
    repo_cache = RepoCache(cache_dir, repo_source)
    evaluator = build_evaluator(settings, repo_source=repo_source, repo_cache=repo_cache)

    store = await Store(runs_dir / "ramp.sqlite", redact=redact).open()

    async def emit_model_event(event: Any) -> None:  # model calls start after `scheduler` exists
        await scheduler.emit(event)

    try:
        existing = await store.get_run(run_id)
        if existing is not None:
            _check_resume(existing, settings, dataset.sha256)
        checks: list[Check] = [c for c in host_checks(settings) if not c.ok]
        checks += [c for c in backend_checks(f"evaluator {evaluator.name}", await evaluator.preflight(instances)) if not c.ok]
        sandboxes = build_sandbox_factory(settings, repo_cache=repo_cache, run_id=run_id)
        if hasattr(sandboxes, "preflight"):  # the docker sandbox: its daemon and images
            seen = {c.detail for c in checks}
            problems = await sandboxes.preflight(instances)
            checks += [c for c in backend_checks(f"sandbox {sandboxes.name}", problems) if not c.ok and c.detail not in seen]
        prepared = await prepare_model(
            settings, needs_model=getattr(agent, "needs_model", False), given=model, store=store, run_id=run_id,
            secrets=credentials, redact=redact, emit=emit_model_event,
        )
        model = prepared.model
        checks += [c for c in prepared.checks if not c.ok]
        if checks:
            raise PreflightFailed(checks)

        folder = RunFolder(runs_dir, run_id, redact=redact)
        config_dump = settings.model_dump(mode="json")
        manifest = {
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
            "repo_source": repo_source,
            "instances": [i.instance_id for i in instances],
            "phases": phases,
        }
        folder.write_manifest(manifest)
        expired: list[dict[str, Any]] = []
        plan = [
            (inst.instance_id, inst.repo, next(i for i, s in enumerate(phases) if pos < s), pos)
            for pos, inst in enumerate(instances)
        ]
        names = [p.name for p in settings.ramp.phases]
        phase_rows = [(size, names[i] if i < len(names) else None) for i, size in enumerate(phases)]
        if existing is None:
            await store.create_run(run_id, config=config_dump, meta={
                "agent": settings.run.agent, "model": settings.run.model, "evaluator": evaluator.name,
                "dataset": settings.run.dataset, "dataset_sha": dataset.sha256, "pid": os.getpid(),
                "host": platform.node(),
            }, instances=plan, phases=phase_rows)
        else:
            # Rows a crash kept an older Ramp from writing are written now: every instance and every
            # gate of the plan is in the store before anything runs.
            await store.resume_run(
                run_id, instances=plan, phases=phase_rows,
                status="running", pid=os.getpid(), host=platform.node(), exit_code=None,
            )
            # A pause or stop queued while the run was down must not surprise the resumed run.
            # Reruns still apply; approve and reject are read by the waiting gate itself.
            expired = await store.expire_commands(run_id, ("pause", "resume", "stop"))

        governor = Governor(settings.governor, runs_dir)
        scheduler = Scheduler(
            run_id=run_id,
            instances=instances,
            phases=phases,
            options=SchedulerOptions(
                attempts=settings.run.attempts,
                attempt_policy=settings.run.attempt_policy,
                max_retries=settings.run.max_retries,
                retry_backoff_s=settings.run.retry_backoff_s,
                agent_concurrency=settings.run.agent_concurrency,
                budgets=settings.run.budgets,
                model_name=settings.run.model or settings.run.agent,
                public_share=settings.ramp.feedback.public_share,
                split_seed=settings.ramp.feedback.seed,
            ),
            store=store, folder=folder, agent=agent, evaluator=evaluator, sandboxes=sandboxes,
            governor=governor, display=display, model=model,
            gate=gate if gate is not None else RampGate(settings),
        )
        await scheduler.emit(RunStarted(
            agent=settings.run.agent, model=settings.run.model, evaluator=evaluator.name,
            dataset=settings.run.dataset, instances=len(instances), attempts=settings.run.attempts,
            phases=phases, resumed=existing is not None, pid=os.getpid(),
        ))
        for problem in dataset.problems[:LISTED_PROBLEMS]:
            await scheduler.emit(Alert(level="warning", message=f"dataset row skipped: {problem}"))
        if len(dataset.problems) > LISTED_PROBLEMS:
            await scheduler.emit(Alert(level="warning", message=(
                f"{len(dataset.problems) - LISTED_PROBLEMS} more dataset row(s) skipped; every one is listed "
                f"in {folder.manifest_path}"
            )))
        for name in credentials.short():
            await scheduler.emit(Alert(level="warning", message=(
                f"credential {name} is shorter than {MIN_SECRET_LENGTH} characters: it is redacted wherever it "
                "stands as a whole word, which may also hide ordinary text equal to it; a real key is longer"
            )))
        for command in expired:
            await scheduler.emit(Alert(level="warning", message=(
                f"command #{command['id']} `{command['command']}`, queued while no process ran this run, "
                "is not replayed now: give it again if it still holds"
            )))
        if swept:
            await scheduler.emit(Alert(level="info", message=(
                f"removed {len(swept)} scratch folder(s) that killed Ramp processes left under {cache_dir}"
            )))
        requeued = await scheduler.restore() if existing is not None else 0
        if existing is not None:
            folder.rebuild_predictions(await _predictions(store, run_id, scheduler.options.model_name))
        if requeued:
            await scheduler.emit(Alert(level="info", message=f"resumed: {requeued} attempt(s) in flight are re-run"))
        for check in prepared.checks:
            if check.warning:
                await scheduler.emit(Alert(level="warning", message=f"preflight: {check.line()}"))
        if on_scheduler is not None:
            on_scheduler(scheduler)
        try:
            status = await scheduler.run()
        finally:
            with anyio.CancelScope(shield=True):
                await evaluator.aclose()
                if hasattr(model, "aclose"):
                    await model.aclose()
        outcomes = scheduler.outcomes()
        # A budget or quota stop is a limit firing, like a gate's STOP: the run did not go on.
        exit_code = ExitCode.GATE_STOP if scheduler.budget_stop else _exit_code(status, await store.attempts(run_id))
        with anyio.CancelScope(shield=True):
            summary = Summary(
                status=status, exit_code=exit_code, outcomes=outcomes,  # type: ignore[arg-type]
                metrics=await summary_metrics(store, run_id), skipped_rows=len(dataset.problems),
            )
            await store.update_run(run_id, status=status, exit_code=exit_code)
            await scheduler.emit(RunFinished(status=status, exit_code=exit_code, reason=scheduler.stop_reason))
            await scheduler.emit(summary)
        return RunResult(run_id, status, exit_code, outcomes, summary)
    finally:
        with anyio.CancelScope(shield=True):
            await store.close()


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
    from ..results.metrics import gate_summary, run_metrics

    metrics = await run_metrics(store, run_id)
    metrics["gates"] = gate_summary(await store.phases(run_id))
    return metrics


class PreflightFailed(RampError):
    """The run cannot start: something it needs is missing."""

    exit_code = ExitCode.INFRA

    def __init__(self, checks: list[Check]):
        self.checks = checks
        super().__init__("preflight failed:\n" + "\n".join("  " + c.line() for c in checks))
