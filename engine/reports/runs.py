"""``ramp runs``: list the runs in the store, show one, remove runs (rows and folder together).

``ramp runs`` lists every run (status, dataset, agent and model, resolved, cost, started);
``ramp runs show RUN`` prints one run's record, metrics and gates; ``ramp runs rm RUN...`` and
``ramp runs prune --older-than DAYS`` remove runs, their rows and their folder together, and
refuse a run a process is executing. Removing asks for ``--yes``: without it they only say what
they would remove. A removed run's model calls stay in the store without its ids, so the day's
quotas still count them.
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio

from ..core.artifacts import safe_name
from ..core.errors import ConfigError

ArgAdder = Callable[[argparse.ArgumentParser], None]


def add_parser(sub: Any, config_arg: ArgAdder, runs_dir_arg: ArgAdder) -> None:
    runs = sub.add_parser("runs", help="list, show and remove runs (ramp runs [show|rm|prune])")
    actions = runs.add_subparsers(dest="runs_action", metavar="ACTION")
    show = actions.add_parser("show", help="one run's record, metrics and gates")
    show.add_argument("run_id")
    remove = actions.add_parser("rm", help="remove runs: their rows and their folder (refuses a live run)")
    remove.add_argument("run_ids", nargs="+", metavar="RUN_ID")
    prune = actions.add_parser("prune", help="remove finished runs started more than DAYS ago")
    prune.add_argument("--older-than", type=float, required=True, metavar="DAYS")
    for parser in (runs, show, remove, prune):
        parser.add_argument("--json", action="store_true", help="JSON instead of text")
        config_arg(parser)
        runs_dir_arg(parser)
    for parser in (remove, prune):
        parser.add_argument("--yes", action="store_true", help="remove (without it: say what would go)")


def cmd_runs(args: argparse.Namespace, store_path: Path) -> int:
    action = args.runs_action or "list"
    result = anyio.run(_ACTIONS[action], args, store_path)
    if args.json:
        print(json.dumps(result, indent=2, default=str))
    else:
        _print(action, result)
    return 0


async def _list(args: argparse.Namespace, path: Path) -> list[dict[str, Any]]:
    from ..results.metricscache import cached_metrics
    from ..store import Store

    async with Store(path) as store:
        runs = await store.list_runs()
        out = []
        for run in runs:
            m = await cached_metrics(store, run, runs)
            out.append({
                "run_id": run["run_id"], "status": run["status"], "dataset": run["dataset"], "agent": run["agent"],
                "model": run["model"], "resolved": m.get("resolved"), "scored": m.get("scored"),
                "instances": m.get("instances"), "cost_usd": m.get("cost_usd"), "started": _when(run["created_at"]),
                "folder": str(path.parent / safe_name(run["run_id"])),
            })  # fmt: skip
        return out


async def _show(args: argparse.Namespace, path: Path) -> dict[str, Any]:
    from ..results.leaderboard import gate_summary
    from ..results.metricscache import cached_metrics
    from ..store import Store

    async with Store(path) as store:
        runs = await store.list_runs()
        run = next((r for r in runs if r["run_id"] == args.run_id), None)
        if run is None:
            raise ConfigError(f"no run {args.run_id!r} in {path} (ramp runs lists them)", field="RUN_ID")
        record = {k: v for k, v in run.items() if k not in ("config_json", "metrics_json")}
        return {
            **record, "started": _when(run["created_at"]), "folder": str(path.parent / safe_name(run["run_id"])),
            "metrics": await cached_metrics(store, run, runs), "gates": gate_summary(await store.phases(run["run_id"])),
        }  # fmt: skip


async def _remove(args: argparse.Namespace, path: Path) -> list[dict[str, Any]]:
    from ..run.runner import run_is_live
    from ..store import Store

    async with Store(path) as store:
        runs = {r["run_id"]: r for r in await store.list_runs()}
        if args.runs_action == "rm":
            unknown = [r for r in args.run_ids if r not in runs]
            if unknown:
                raise ConfigError(f"no run {unknown[0]!r} in {path} (ramp runs lists them)", field="RUN_ID")
            chosen = [runs[r] for r in args.run_ids]
        else:
            cutoff = time.time() - args.older_than * 86400
            chosen = [r for r in runs.values() if r["created_at"] < cutoff and r["status"] not in ("running", "paused")]
        live = [r["run_id"] for r in chosen if run_is_live(r)]
        if live:
            raise ConfigError(f"run {live[0]!r} is running in another process (pid {runs[live[0]]['pid']}); "
                              f"stop it first: ramp ctl {live[0]} stop", field="RUN_ID")  # fmt: skip
        out = []
        for run in chosen:
            folder = path.parent / safe_name(run["run_id"])
            entry: dict[str, Any] = {"run_id": run["run_id"], "folder": str(folder), "removed": args.yes}
            if args.yes:
                entry["rows"] = await store.delete_run(run["run_id"])
                shutil.rmtree(folder, ignore_errors=True)
            out.append(entry)
        return out


_ACTIONS = {"list": _list, "show": _show, "rm": _remove, "prune": _remove}


def _when(ts: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(ts)) if ts else "-"


def _print(action: str, result: Any) -> None:
    if action == "list":
        if not result:
            print("no runs in the store")
        for r in result:
            resolved = f"{r['resolved']}/{r['scored']}" if r["scored"] is not None else "-"
            cost = "-" if r["cost_usd"] is None else f"${r['cost_usd']:.4f}"
            print(f"{r['run_id']:<36} {r['status']:<11} {r['started']}  {r['agent']}/{r['model'] or '-'}  "
                  f"{resolved} resolved  {cost}  {r['dataset']}")  # fmt: skip
    elif action == "show":
        for key in ("run_id", "status", "exit_code", "started", "dataset", "agent", "model", "evaluator", "folder"):
            print(f"{key:<10} {result.get(key)}")
        m = result["metrics"]
        print(f"{'resolved':<10} {m.get('resolved')}/{m.get('scored')} scored of {m.get('instances')} instances; "
              f"cost ${m.get('cost_usd') or 0:.4f}; {m.get('calls', 0)} model calls")  # fmt: skip
        for g in result["gates"]:
            print(f"gate {g['phase'] + 1:<5} {g['tier'] or '-'}  {g['rule'] or ''}  {g['decision'] or ''}")
    else:
        for r in result:
            print(f"{'removed' if r['removed'] else 'would remove'} {r['run_id']}: its rows and {r['folder']}")
        if not result:
            print("no run to remove")
        elif not result[0]["removed"]:
            print("nothing removed: pass --yes to remove")
