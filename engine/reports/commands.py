"""The output commands of the ``ramp`` CLI: report, compare, leaderboard, export, runs.

They only read the store (any run, live or finished, from any process) and write files, so they
live apart from engine/cli.py, which registers them with :func:`add_parsers` and dispatches through
:data:`COMMANDS`.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio

from ..core.errors import ConfigError
from .runs import add_parser as add_runs_parser
from .runs import cmd_runs
from .serve import add_parser as add_serve_parser
from .serve import cmd_serve

ArgAdder = Callable[[argparse.ArgumentParser], None]


def add_parsers(sub: Any, config_arg: ArgAdder, runs_dir_arg: ArgAdder) -> None:
    report = sub.add_parser("report", help="write a run's report (Markdown and self-contained HTML)")
    report.add_argument("run_id")
    report.add_argument("--format", choices=["md", "html", "json"], help="one format (default: md and html)")
    report.add_argument("--out", type=Path, help="output file (default: runs/<run_id>/report.<format>)")
    report.add_argument("--baseline", help="no-patch run to measure the spread against (default: ramp.baseline)")
    report.add_argument("--exclude-env-broken", action="store_true",
                        help="also give the resolved count with tests `ramp validate` found env-broken left out")

    compare = sub.add_parser("compare", help="A/B report of two runs: flips, McNemar, bootstrap CI")
    compare.add_argument("run_a")
    compare.add_argument("run_b")
    compare.add_argument("--format", choices=["md", "html", "json"], help="one format (default: md and html)")
    compare.add_argument("--out", type=Path, help="output file (default: runs/compare/A--vs--B.<format>)")
    compare.add_argument("--seed", type=int, default=0, help="bootstrap seed")

    board = sub.add_parser("leaderboard", help="every run in the store, ranked")
    board.add_argument("--json", action="store_true", help="print the rows as JSON")
    board.add_argument("--csv", type=Path, metavar="PATH", help="write the rows to a CSV file")

    export = sub.add_parser("export", help="write SWE-bench predictions (one per instance) for submission")
    export.add_argument("run_id")
    export.add_argument("--out", type=Path, help="output .jsonl or .json (default: runs/<run_id>/submission.jsonl)")
    export.add_argument("--pick", choices=["first", "resolved", "last"], default="first",
                        help="which attempt to submit per instance (default first: no oracle selection)")
    for parser in (report, compare, board, export):
        config_arg(parser)
        runs_dir_arg(parser)
    add_runs_parser(sub, config_arg, runs_dir_arg)
    add_serve_parser(sub, config_arg, runs_dir_arg)


def _store_path(args: argparse.Namespace) -> Path:
    from ..core.config import load_settings

    overrides = {"paths.runs_dir": str(args.runs_dir)} if getattr(args, "runs_dir", None) else {}
    runs_dir = load_settings(getattr(args, "config", None), overrides=overrides).paths.runs_dir
    path = runs_dir / "ramp.sqlite"
    if not path.exists():
        raise ConfigError(f"no store at {path}; pass --runs-dir", field="--runs-dir")
    return path


async def _known(store: Any, *run_ids: str) -> None:
    for run_id in run_ids:
        if await store.get_run(run_id) is None:
            raise ConfigError(f"no run {run_id!r} in {store.path}", field="RUN_ID")


def cmd_report(args: argparse.Namespace) -> int:
    from ..store import Store
    from . import write_report

    path = _store_path(args)

    async def go() -> list[Path]:
        async with Store(path) as store:
            await _known(store, args.run_id, *([args.baseline] if args.baseline else []))
            return await write_report(store, args.run_id, path.parent, fmt=args.format, out=args.out,
                                      baseline=args.baseline, exclude_env_broken=args.exclude_env_broken)

    for written in anyio.run(go):
        print(written)
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    from ..store import Store
    from . import write_comparison
    from .compare import verdict_line

    path = _store_path(args)

    async def go() -> tuple[dict[str, Any], list[Path]]:
        async with Store(path) as store:
            await _known(store, args.run_a, args.run_b)
            return await write_comparison(store, args.run_a, args.run_b, path.parent, fmt=args.format,
                                          out=args.out, seed=args.seed)

    result, written = anyio.run(go)
    print(verdict_line(result))
    for item in written:
        print(item)
    return 0


def cmd_leaderboard(args: argparse.Namespace) -> int:
    from ..results.leaderboard import leaderboard_rows, print_table, to_json, write_csv
    from ..store import Store

    path = _store_path(args)

    async def go() -> list[dict[str, Any]]:
        async with Store(path) as store:
            return await leaderboard_rows(store, path.parent)

    rows = anyio.run(go)
    if args.csv:
        write_csv(rows, args.csv)
    if args.json:
        print(to_json(rows))
    elif not args.csv:
        print_table(rows, path.parent)
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from ..results.export import export_predictions
    from ..store import Store

    path = _store_path(args)

    async def go() -> tuple[Path, int]:
        async with Store(path) as store:
            await _known(store, args.run_id)
            return await export_predictions(store, args.run_id, path.parent, out=args.out, pick=args.pick)

    out, patched = anyio.run(go)
    print(json.dumps({"predictions": str(out), "patches": patched, "pick": args.pick}))
    return 0


COMMANDS = {"report": cmd_report, "compare": cmd_compare, "leaderboard": cmd_leaderboard, "export": cmd_export,
            "runs": lambda args: cmd_runs(args, _store_path(args)), "serve": cmd_serve}
