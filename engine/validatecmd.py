"""``ramp validate``: run gold and empty for each selected instance and keep the verdicts.

The selection, repository source and evaluator are chosen exactly as ``ramp run`` chooses them
(``--dataset``, ``--instances``, ``--slice``, ``--limit``, ``--repo-source``, ``--evaluator``). Each
instance's verdict is written to the store's validation registry as it finishes (engine/run/
validation.py says what the statuses mean), then a table per repository and the reason of every
row that is not valid are printed. Exit 0 when the validation ran (whatever it found), 2 for bad
input, 3 when nothing could be validated.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from typing import Any


def add_parser(sub: Any, config_arg: Callable[[Any], None], runs_dir_arg: Callable[[Any], None]) -> None:
    validate = sub.add_parser(
        "validate", help="run gold and empty per instance; record valid / env_broken / flaky rows"
    )
    validate.add_argument("--dataset", help="bundled | FILE.json/.jsonl/.parquet | HF name[:split]")
    validate.add_argument("--instances", help="comma-separated instance ids")
    validate.add_argument("--slice", help="pinned YAML slice of instance ids")
    validate.add_argument("--limit", type=int, help="validate at most N instances")
    validate.add_argument("--evaluator", help="local | docker")
    validate.add_argument("--repo-source", help="repo URL template, e.g. file:///mirrors/{owner}+{name}")
    validate.add_argument("--jobs", type=int, default=2, help="instances validated at once (default 2)")
    validate.add_argument("--reruns", type=int, default=2,
                          help="extra runs of a patch whose verdict disagrees, to find flaky tests (default 2)")
    validate.add_argument("--again", action="store_true", help="redo instances the registry already holds")
    validate.add_argument("--redo", default="", metavar="STATUSES",
                          help="redo registry rows with these statuses, e.g. infra,env_broken,flaky")
    validate.add_argument("--rebuild-failed", action="store_true",
                          help="build again environments whose last build failed (remembered otherwise)")
    validate.add_argument("--json", action="store_true", help="one JSON line per instance, then a summary")
    config_arg(validate)
    runs_dir_arg(validate)


def overrides(args: argparse.Namespace) -> dict[str, Any]:
    evaluator = args.evaluator or None
    values: dict[str, Any] = {
        "run.dataset": args.dataset,
        "run.instances": [i.strip() for i in args.instances.split(",") if i.strip()] if args.instances else None,
        "run.slice": args.slice,
        "run.limit": args.limit,
        "run.evaluator": evaluator,
        "run.repo_source": args.repo_source,
        "run.agent": "gold",
    }
    if args.rebuild_failed:
        values["evaluators.local.retry_failed_builds"] = True
        values["evaluators.docker.retry_failed_builds"] = True
    return values


def cmd_validate(args: argparse.Namespace, settings: Any) -> int:
    import anyio

    from .core.errors import ConfigError, ExitCode
    from .datasets.rows import SWEInstance
    from .results.validation import reasons, repo_table
    from .run.validation import STATUSES, Validator, tally
    from .run.wiring import wire
    from .store import Store

    if args.jobs < 1 or args.reruns < 0:
        raise ConfigError("--jobs must be at least 1 and --reruns at least 0", field="--jobs/--reruns")
    redo = frozenset(s.strip() for s in args.redo.split(",") if s.strip())
    if unknown := sorted(redo - set(STATUSES)):
        raise ConfigError(f"--redo {','.join(unknown)}: unknown status; use {', '.join(STATUSES)}", field="--redo")
    out: Callable[[str], None] = (lambda _: None) if args.json else (lambda line: print(line, flush=True))

    async def go() -> int:
        started = time.monotonic()
        wiring = await wire(settings, f"validate-{time.strftime('%Y%m%d-%H%M%S')}")
        instances = [i for i in wiring.instances if isinstance(i, SWEInstance)]
        try:
            if len(instances) != len(wiring.instances):
                raise ConfigError(
                    f"ramp validate checks SWE-bench environments, and {wiring.dataset.spec} holds "
                    f"{wiring.dataset.family} problems; check them with `ramp run --dataset "
                    f"{wiring.dataset.spec} --agent gold` (and --agent empty)",
                    field="--dataset",
                )
            for note in wiring.notes:
                out(f"! {note}")
            failed = [c for c in await wiring.checks() if not c.ok]
            if failed:
                for check in failed:
                    print(check.line(), file=sys.stderr)
                return ExitCode.INFRA
            evaluator = wiring.evaluator
            out(f"validating {len(wiring.instances)} instance(s) with {evaluator.name}, "
                f"{args.jobs} at a time, {args.reruns} rerun(s) of a disagreement")
            folder = settings.paths.runs_dir / "validation" / wiring.run_id
            async with Store(settings.paths.runs_dir / "ramp.sqlite", redact=wiring.redact) as store:

                def progress(line: str) -> None:
                    out(line)

                validator = Validator(evaluator, store, folder, dataset=str(wiring.dataset.source),
                                      reruns=args.reruns, jobs=args.jobs, progress=progress)
                done = await validator.validate(instances, again=args.again, redo=redo)
                if args.json:
                    for v in done:
                        print(json.dumps({"kind": "validation", "instance_id": v.instance.instance_id,
                                          **v.fields()}), flush=True)
                ids = {i.instance_id for i in wiring.instances}
                rows = [r for r in await store.validations(evaluator.name) if r["instance_id"] in ids]
            wall = time.monotonic() - started
            if args.json:
                print(json.dumps({"kind": "summary", "statuses": dict(tally(rows)), "wall_s": round(wall, 1)}))
            else:
                print(repo_table(rows))
                for line in reasons(rows):
                    print("  " + line)
                print(f"wall time {wall:.0f}s; registry in {settings.paths.runs_dir / 'ramp.sqlite'}, "
                      f"logs under {folder}")
            if validator.interrupted:
                return ExitCode.INTERRUPTED
            return 0 if rows else ExitCode.INFRA
        finally:
            await wiring.aclose()

    return anyio.run(go)
