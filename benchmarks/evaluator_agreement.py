"""Do the local and the docker evaluators agree, test by test, on real rows?

Both build their environments with the same code (the docker one inside a build container) and run
the same evaluation steps; this evaluates each given instance's gold and empty patches with both and
prints, per instance and patch, how many tests each parsed, how many statuses agree, and the ones
that do not. Needs a running docker daemon and Ramp's base image (README, "Docker").

    python benchmarks/evaluator_agreement.py --dataset ../shared/data/swebench_lite/dev.jsonl \\
        --repo-source 'file:///work/.mirror/{owner}+{name}/repo' --cache-dir /tmp/agree \\
        marshmallow-code__marshmallow-1343 pylint-dev__astroid-1268
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import anyio

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from engine.core.config import load_settings  # noqa: E402
from engine.datasets.rows import SWEInstance  # noqa: E402
from engine.evaluators import build_evaluator  # noqa: E402
from engine.evaluators.base import EvalRequest  # noqa: E402
from engine.workspace.repos import RepoCache  # noqa: E402


def rows(path: Path, ids: list[str]) -> list[SWEInstance]:
    found = {}
    for line in path.read_text().splitlines():
        if line.strip() and (row := json.loads(line))["instance_id"] in ids:
            found[row["instance_id"]] = SWEInstance.model_validate(row)
    if missing := sorted(set(ids) - set(found)):
        sys.exit(f"not in {path}: {', '.join(missing)}")
    return [found[i] for i in ids]


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", type=Path, required=True)
    parser.add_argument("--repo-source", required=True)
    parser.add_argument("--cache-dir", type=Path, required=True)
    parser.add_argument("instance_ids", nargs="+")
    args = parser.parse_args()
    evaluators = {}
    for name in ("local", "docker"):
        settings = load_settings(ROOT / "config" / "ramp.yaml", overrides={
            "run.evaluator": name, "paths.cache_dir": str(args.cache_dir),
            "paths.runs_dir": str(args.cache_dir / "runs")})  # fmt: skip
        evaluators[name] = build_evaluator(
            settings, repo_source=args.repo_source, repo_cache=RepoCache(args.cache_dir, args.repo_source)
        )
    agreed = total = 0
    try:
        for instance in rows(args.dataset, args.instance_ids):
            for label, patch in (("gold", instance.patch), ("empty", "")):
                results = {}
                for name, evaluator in evaluators.items():
                    started = time.monotonic()
                    log_dir = args.cache_dir / "logs" / name / instance.instance_id / label
                    try:
                        result = await evaluator.evaluate(EvalRequest(instance=instance, patch=patch, log_dir=log_dir))
                        results[name] = (result.tests, result.resolved, time.monotonic() - started)
                    except Exception as exc:  # noqa: BLE001  # an infra error is a row of the table
                        results[name] = ({}, None, time.monotonic() - started)
                        print(f"  {name}: {type(exc).__name__}: {str(exc).splitlines()[0][:200]}")
                (local, local_ok, local_s), (docker, docker_ok, docker_s) = results["local"], results["docker"]
                names = sorted(set(local) | set(docker))
                same = [t for t in names if local.get(t) == docker.get(t)]
                agreed, total = agreed + len(same), total + len(names)
                print(f"{instance.instance_id} {label}: resolved local={local_ok} docker={docker_ok}; "
                      f"tests {len(local)} / {len(docker)}, {len(same)} of {len(names)} agree "
                      f"({local_s:.0f}s / {docker_s:.0f}s)", flush=True)
                for test in [t for t in names if t not in same][:5]:
                    print(f"    {test}: local {local.get(test)}, docker {docker.get(test)}")
    finally:
        for evaluator in evaluators.values():
            await evaluator.aclose()
    print(f"\n{agreed} of {total} test statuses agree")
    return 0 if agreed == total else 1


if __name__ == "__main__":
    raise SystemExit(anyio.run(main))
