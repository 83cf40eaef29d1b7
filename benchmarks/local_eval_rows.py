"""Evaluate real SWE-bench rows with the docker-less evaluator: gold and empty patch, timed.

This is the manual check behind DESIGN's "Pitfalls measured here": it shows, per instance, whether
the gold patch resolves and the empty patch does not, with environment build times (first build and
reuse) and evaluation times. It needs a repo source that holds the repositories (a local mirror on
machines without GitHub), and reads rows from a .jsonl file by path; nothing is copied.

    python benchmarks/local_eval_rows.py --dataset ../shared/data/swebench_lite/dev.jsonl \\
        --repo-source 'file:///mirrors/{owner}+{name}' --cache-dir /tmp/ramp-cache \\
        marshmallow-code__marshmallow-1343

A mirror that lacks some objects (a partial snapshot) cannot be served over file://, because
git's upload-pack checks every object; give it as a plain path template instead
('/mirrors/{owner}+{name}'), which clones by copying and only needs the commits evaluated.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import anyio

from engine.core.errors import InfraError
from engine.datasets.rows import SWEInstance
from engine.evaluators.base import EvalRequest
from engine.evaluators.local import LocalEvaluator, LocalEvaluatorConfig


def load_rows(path: Path, ids: list[str]) -> list[SWEInstance]:
    wanted = set(ids)
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    found = {
        row["instance_id"]: SWEInstance.model_validate(row)
        for row in rows
        if row["instance_id"] in wanted
    }
    missing = wanted - set(found)
    if missing:
        sys.exit(f"not in {path}: {', '.join(sorted(missing))}")
    return [found[i] for i in ids]


async def evaluate_one(evaluator: LocalEvaluator, instance: SWEInstance, out: Path) -> dict:
    figures: dict = {"instance_id": instance.instance_id}
    for label, patch in (("gold", instance.patch), ("empty", "")):
        started = time.monotonic()
        built_before = evaluator.envs.builds
        try:
            result = await evaluator.evaluate(
                EvalRequest(
                    instance=instance, patch=patch, log_dir=out / instance.instance_id / label
                )
            )
        except InfraError as exc:
            figures[label] = {"error": "infra", "detail": str(exc)[-1500:]}
            break
        figures[label] = {
            "resolved": result.resolved,
            "error_class": result.error_class,
            "env_built": evaluator.envs.builds > built_before,
            "setup_s": round(result.setup_s, 1),
            "eval_s": round(time.monotonic() - started, 1),
            "f2p_passed": f"{len(result.fail_to_pass.success)}/{len(instance.FAIL_TO_PASS)}",
            "p2p_passed": f"{len(result.pass_to_pass.success)}/{len(instance.PASS_TO_PASS)}",
            "detail": result.detail[:400],
        }
    return figures


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("instances", nargs="+")
    parser.add_argument("--dataset", type=Path, required=True)
    parser.add_argument("--repo-source", required=True)
    parser.add_argument("--cache-dir", type=Path, required=True)
    parser.add_argument("--out", type=Path, default=Path("/tmp/ramp-local-eval"))
    parser.add_argument("--no-era", action="store_true", help="resolve at today's versions")
    args = parser.parse_args()
    config = LocalEvaluatorConfig(era_pinning=not args.no_era)
    evaluator = LocalEvaluator(config, cache_dir=args.cache_dir, repo_source=args.repo_source)
    instances = load_rows(args.dataset, args.instances)
    for problem in await evaluator.preflight(instances):
        print("preflight:", problem)
    for instance in instances:
        print(json.dumps(await evaluate_one(evaluator, instance, args.out), indent=2), flush=True)
    await evaluator.aclose()


if __name__ == "__main__":
    anyio.run(main)
