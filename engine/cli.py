"""The `ramp` command line. See DESIGN.md, "Command-line contract".

Exit codes: 0 finished (last gate not STOP), 1 a gate said STOP, 2 usage or config error,
3 infrastructure failure, 130 interrupted. Errors are one readable message on stderr, never a
traceback; with ``--json`` the last stdout line is still a ``"kind": "summary"`` object.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio

from .completion import add_parser as add_completion_parser
from .completion import cmd_completion
from .core import collector
from .core.errors import ConfigError, ExitCode, RampError
from .core.version import ramp_version
from .demo.command import add_parser as add_demo_parser
from .demo.command import cmd_demo
from .doctorcmd import add_parser as add_doctor_parser
from .doctorcmd import cmd_doctor, executor_args
from .doctorcmd import overrides as doctor_overrides
from .gatewaycmd import add_parser as add_gateway_parser
from .gatewaycmd import cmd_gateway
from .reports.commands import COMMANDS as OUTPUT_COMMANDS
from .reports.commands import add_parsers as add_output_parsers
from .validatecmd import add_parser as add_validate_parser
from .validatecmd import cmd_validate
from .validatecmd import overrides as validate_overrides


def _runs_dir_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--runs-dir", type=Path, default=None,
                        help="folder holding ramp.sqlite and run folders (default ./runs or $RAMP_RUNS_DIR)")


def _config_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-c", "--config", type=Path, default=None, help="config file (default config/ramp.yaml)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ramp", description="Evaluate coding agents on SWE-bench-style tasks.")
    parser.add_argument("--version", action="version", version=f"ramp {ramp_version()}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = sub.add_parser("run", help="start or resume a run")
    _config_arg(run)
    run.add_argument("--dataset", help="bundled | FILE.json/.jsonl/.parquet | HF name[:split] | humaneval[:PATH] | mbpp:PATH")
    run.add_argument("--instances", help="comma-separated instance ids")
    run.add_argument("--slice", type=Path, help="pinned YAML slice of instance ids")
    run.add_argument("--limit", type=int, help="run at most N instances")
    run.add_argument("--seed", type=int, help="seed of the repo-stratified order")
    run.add_argument("--agent", help="empty | gold | direct-edit | bash | mini | command | predictions | complete")
    run.add_argument("--predictions", nargs="+", metavar="PATH",
                     help="with --agent predictions: .jsonl / .json / preds.json files or folders of .traj files")
    run.add_argument("--predictions-model", metavar="NAME", help="the model_name_or_path to evaluate when the files hold several")
    run.add_argument("--model", help="model id from config/models.yaml; a,b,... runs each in turn")
    run.add_argument("--evaluator", help="local | docker")
    run.add_argument("--sandbox", choices=["auto", "local", "docker"], help="where agents work (auto: docker with the docker evaluator)")
    run.add_argument("--attempts", type=int, help="K attempts per instance")
    run.add_argument("--attempt-policy", choices=["until-resolved", "fixed"])
    run.add_argument("--phases", help="ramp plan as sizes, e.g. 5,10,30")
    run.add_argument("--run-id", help="resume this run, or name a new one")
    run.add_argument("--repo-source", help="repo URL template, e.g. file:///mirrors/{owner}+{name}")
    executor_args(run)
    run.add_argument("--headless", action="store_true", help="no TUI; progress lines or --json")
    run.add_argument("--auto-approve", action="store_true", help="headless gate policy: proceed unless STOP")
    run.add_argument("--json", action="store_true", help="JSON lines on stdout; the last is the summary")
    _runs_dir_arg(run)

    watch = sub.add_parser("watch", help="attach the TUI to a run (live or finished); quitting detaches")
    watch.add_argument("run_id")
    watch.add_argument("--wait", type=float, default=30.0, metavar="SECONDS",
                       help="wait this long for a run that is still starting to appear (default 30)")

    ctl = sub.add_parser("ctl", help="control a run through the store")
    ctl.add_argument("run_id")
    ctl.add_argument("action", choices=["pause", "resume", "stop", "approve", "reject", "rerun", "rerun-failed"])
    ctl.add_argument("instance", nargs="?", help="instance id (for rerun)")

    status = sub.add_parser("status", help="show a run's state")
    status.add_argument("run_id")
    status.add_argument("--json", action="store_true")
    for parser_ in (watch, ctl, status):
        _config_arg(parser_)
        _runs_dir_arg(parser_)

    add_doctor_parser(sub, _config_arg, _runs_dir_arg)

    add_demo_parser(sub)
    add_completion_parser(sub)
    add_gateway_parser(sub, _config_arg, _runs_dir_arg)
    add_validate_parser(sub, _config_arg, _runs_dir_arg)
    add_output_parsers(sub, _config_arg, _runs_dir_arg)

    dataset = sub.add_parser("dataset", help="dataset tools")
    dsub = dataset.add_subparsers(dest="dataset_command", required=True, metavar="ACTION")
    lock = dsub.add_parser("lock", help="pin a Hugging Face dataset (or file) in config/dataset.lock")
    lock.add_argument("spec", help="e.g. princeton-nlp/SWE-bench_Lite:test")
    lock.add_argument("--revision", help="commit or tag to pin (default: the current one)")
    _config_arg(lock)
    _runs_dir_arg(lock)
    return parser


def _settings(args: argparse.Namespace, overrides: dict[str, Any] | None = None) -> Any:
    from .core.config import load_settings

    overrides = dict(overrides or {})
    if getattr(args, "runs_dir", None) is not None:
        overrides["paths.runs_dir"] = str(args.runs_dir)
    return load_settings(getattr(args, "config", None), overrides=overrides)


def _run_overrides(args: argparse.Namespace) -> dict[str, Any]:
    agent = args.agent
    if args.predictions and agent not in (None, "predictions"):
        raise ConfigError(f"--predictions gives patches to evaluate, which --agent {agent} would not read; "
                          "drop --agent (or use --agent predictions)", field="--predictions")
    return {
        "run.dataset": args.dataset,
        "run.instances": [i.strip() for i in args.instances.split(",") if i.strip()] if args.instances else None,
        "run.slice": str(args.slice) if args.slice else None,
        "run.limit": args.limit,
        "run.seed": args.seed,
        "run.agent": "predictions" if args.predictions else agent,
        "run.model": args.model,
        "run.evaluator": args.evaluator,
        "run.sandbox": args.sandbox,
        "run.attempts": args.attempts,
        "run.attempt_policy": args.attempt_policy,
        "run.repo_source": args.repo_source,
        "run.executor": args.executor,
        "ray.address": args.ray_address,
        "agents.predictions.paths": [str(Path(p).resolve()) for p in args.predictions] if args.predictions else None,
        "agents.predictions.model": args.predictions_model,
        "ramp.phases": args.phases,
        "ramp.approval": "auto" if args.auto_approve else None,
    }


def cmd_run(args: argparse.Namespace) -> int:
    from .reports.models import launch_each  # --model a,b: one run per model, then one table

    return launch_each(args, lambda model: _settings(args, _run_overrides(args) | ({"run.model": model} if model else {})))


def _run_exists(path: Path, run_id: str) -> bool:
    import sqlite3

    from .store import StoreReader

    if not path.exists():
        return False
    try:
        with StoreReader(path) as reader:
            return reader.run(run_id) is not None
    except sqlite3.Error:  # a store being created this instant: not there yet
        return False


def cmd_watch(args: argparse.Namespace) -> int:
    import time

    settings = _settings(args)
    path = settings.paths.runs_dir / "ramp.sqlite"
    deadline = time.monotonic() + max(args.wait, 0.0)
    said = False
    # A run started a moment ago may not have written its store or its row yet (its dataset and
    # environments come first): wait for it, saying so, rather than answer "no run".
    while not _run_exists(path, args.run_id):
        if time.monotonic() >= deadline:
            where = f"no store at {path}" if not path.exists() else f"no run {args.run_id!r} in {path}"
            raise ConfigError(
                f"{where}{f' after waiting {args.wait:.0f} s' if args.wait > 0 else ''}; check the run id "
                "and --runs-dir (`ramp leaderboard` lists the runs)", field="RUN_ID",
            )
        if not said:
            print(f"waiting up to {args.wait:.0f} s for run {args.run_id} to start in {path} ...", file=sys.stderr)
            said = True
        time.sleep(0.5)
    front_end = getattr(args, "front_end", None)
    if front_end is None or not (sys.stdout.isatty() or "WebDriver" in os.environ.get("TEXTUAL_DRIVER", "")):
        raise ConfigError(
            "watch needs the terminal UI on a terminal: run `ramp watch` from a shell "
            f"(`ramp status {args.run_id}` prints the state without one)", field="watch",
        )
    return front_end.watch(settings, args.run_id)


@asynccontextmanager
async def run_store(settings: Any, run_id: str) -> AsyncIterator[tuple[Any, dict[str, Any]]]:
    """The store holding ``run_id``, and its run row; a ConfigError naming both when either is
    missing (and no empty store is made where there was none)."""
    from .store import Store

    path = settings.paths.runs_dir / "ramp.sqlite"
    if not path.exists():
        raise ConfigError(f"no run {run_id!r}: there is no store at {path}; pass --runs-dir", field="RUN_ID")
    async with Store(path) as store:
        run = await store.get_run(run_id)
        if run is None:
            raise ConfigError(f"no run {run_id!r} in {path}", field="RUN_ID")
        yield store, run


def cmd_ctl(args: argparse.Namespace) -> int:
    if args.action == "rerun" and not args.instance:
        raise ConfigError("rerun needs an instance id: ramp ctl RUN_ID rerun INSTANCE_ID", field="instance")
    settings = _settings(args)

    async def go() -> int:
        from .run.runner import run_is_live

        async with run_store(settings, args.run_id) as (store, run):
            live = run_is_live(run)
            waiting = [p["phase"] + 1 for p in await store.phases(args.run_id) if p["status"] == "awaiting_approval"]
            resume = f"resume it with `ramp run --run-id {args.run_id}` and the settings it was started with"
            if not live and args.action in ("pause", "resume", "stop"):
                raise ConfigError(
                    f"run {args.run_id} is {run['status']}: no process is running it, so `{args.action}` "
                    f"has nothing to act on and is not queued; {resume}", field="RUN_ID",
                )
            if not live and args.action in ("approve", "reject") and not waiting:
                raise ConfigError(
                    f"run {args.run_id} is {run['status']} and no gate waits for a decision; nothing "
                    f"to {args.action}", field="RUN_ID",
                )
            command_id = await store.add_command(args.run_id, args.action, args.instance or "")
        print(f"queued command #{command_id}: {args.action} {args.instance or ''}".rstrip())
        if not live:
            what = f"the gate of phase {waiting[0]} takes it" if args.action in ("approve", "reject") else "it applies"
            print(f"run {args.run_id} is {run['status']} (no process is running it): {what} when it resumes; {resume}")
        return 0

    return anyio.run(go)


def cmd_status(args: argparse.Namespace) -> int:
    from .run.runner import summary_metrics

    settings = _settings(args)

    async def go() -> int:
        async with run_store(settings, args.run_id) as (store, run):
            instances = await store.instances(args.run_id)
            metrics = await summary_metrics(store, args.run_id)
        if args.json:
            print(json.dumps({
                "run_id": args.run_id, "status": run["status"], "exit_code": run["exit_code"],
                "metrics": metrics,
                "instances": {i["instance_id"]: {"state": i["state"], "attempt": i["attempt"], "outcome": i["outcome"]} for i in instances},
            }))
        else:
            print(f"run {args.run_id}: {run['status']} (agent {run['agent']}, evaluator {run['evaluator']})")
            print(f"resolved {metrics['resolved']}/{metrics['instances']}, attempts {metrics['attempts']}, "
                  f"infra failures {metrics['infra_failures']}")
            for i in instances:
                print(f"  {i['instance_id']:<50} {i['state']:<12} attempt {i['attempt']}  {i['outcome'] or ''}")
        return 0

    return anyio.run(go)


def cmd_dataset(args: argparse.Namespace) -> int:
    from .datasets import lock_dataset

    settings = _settings(args)
    entry = lock_dataset(
        args.spec, settings.paths.lock_file, revision=args.revision,
        cache_dir=settings.paths.resolved_cache_dir(),
    )
    print(f"locked {args.spec} in {settings.paths.lock_file}: {entry.model_dump_json()}")
    return 0


COMMANDS = {
    "run": cmd_run,
    "watch": cmd_watch,
    "ctl": cmd_ctl,
    "status": cmd_status,
    "doctor": lambda args: cmd_doctor(args, _settings(args, doctor_overrides(args))),
    "dataset": cmd_dataset,
    "demo": cmd_demo,
    "completion": lambda args: cmd_completion(args, build_parser()),
    "gateway": lambda args: cmd_gateway(args, _settings(args)),
    "validate": lambda args: cmd_validate(args, _settings(args, validate_overrides(args))),
    **OUTPUT_COMMANDS,
}


def _failure_summary(args: argparse.Namespace, code: int, message: str) -> None:
    if getattr(args, "json", False) and getattr(args, "command", "") in ("run", "demo"):
        print(json.dumps({
            "kind": "summary", "run_id": getattr(args, "run_id", None) or "", "status": "failed",
            "exit_code": code, "outcomes": {}, "metrics": {}, "error": message,
        }))


def main(argv: list[str] | None = None, front_end: Any = None) -> int:
    """Run one command. ``front_end`` (an engine.frontend.FrontEnd) is the terminal UI that the
    ``ramp`` entry point hands in; without one, runs print plain lines and ``watch`` is unavailable."""
    parser = build_parser()
    args = parser.parse_args(argv)
    args.front_end = front_end
    if args.command not in ("run", "demo"):  # those resume the collector once their run starts
        collector.resume()
    if getattr(args, "runs_dir", None) is None and os.environ.get("RAMP_RUNS_DIR"):
        args.runs_dir = Path(os.environ["RAMP_RUNS_DIR"])
    from .core.secrets import current as redactor  # error messages can quote provider replies

    try:
        if getattr(args, "run_id", None):
            from .run.wiring import check_run_id

            check_run_id(args.run_id, "--run-id" if args.command in ("run", "demo") else "RUN_ID")
        code = COMMANDS[args.command](args)
    except ConfigError as exc:
        print(f"ramp: error: {redactor()(str(exc))}", file=sys.stderr)
        _failure_summary(args, ExitCode.CONFIG, redactor()(str(exc)))
        code = ExitCode.CONFIG
    except RampError as exc:
        print(f"ramp: {redactor()(str(exc))}", file=sys.stderr)
        _failure_summary(args, exc.exit_code, redactor()(str(exc)))
        code = exc.exit_code
    except KeyboardInterrupt:
        print("ramp: interrupted", file=sys.stderr)
        code = ExitCode.INTERRUPTED
    except BrokenPipeError:
        return _closed_pipe()
    except Exception as exc:  # a bug: say so plainly; the traceback is one variable away
        if os.environ.get("RAMP_DEBUG"):
            raise
        print(f"ramp: internal error: {type(exc).__name__}: {redactor()(str(exc))} (set RAMP_DEBUG=1 for the traceback)",
              file=sys.stderr)
        _failure_summary(args, ExitCode.INFRA, f"{type(exc).__name__}: {redactor()(str(exc))}")
        code = ExitCode.INFRA
    try:
        sys.stdout.flush()  # here, not at interpreter exit, where a closed pipe prints a traceback
    except BrokenPipeError:
        return _closed_pipe()
    return code


def leaving(code: int) -> int:
    """What a ``ramp`` process's entry point returns once its command is done: ``code``, with the
    heap frozen for the garbage collector. At exit Python collects the whole heap once more before
    freeing it; after a run of 200 attempts that pass took 60-75 ms of the exit's 75 ms, for
    nothing, since what the run opened is closed. Only for a process that ends here: frozen
    objects are never collected."""
    gc.freeze()
    return code


def _closed_pipe() -> int:
    """The reader of stdout is gone: stop quietly. Further writes (the interpreter's final flush
    included) go to /dev/null instead of raising BrokenPipeError again."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)
    return ExitCode.CLOSED_PIPE


if __name__ == "__main__":
    raise SystemExit(leaving(main()))
