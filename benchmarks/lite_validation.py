"""Validate real SWE-bench Lite rows with ``ramp validate`` and print the table per repository.

It reads the Lite rows (dev and test .jsonl) where they are, keeps those of the repositories asked
for (default: every repository the repo source holds), writes the selection beside the store (never
into the repository), runs ``ramp validate`` on it and prints, per repository: rows, each status,
gold resolved over rows whose source is complete, empty resolved, and the seconds spent setting up
(environment builds and checkouts) against running tests; then every row that is not valid with its
reason, and the wall time. The registry persists: run it again and only what is missing is done
(``--again`` redoes everything).

    python benchmarks/lite_validation.py --data ../shared/data/swebench_lite \\
        --repo-source 'file:///work/.mirror/{owner}+{name}/repo' --runs-dir /tmp/lite-validation \\
        [--repos pallets/flask,psf/requests] [--limit-per-repo 3] [--jobs 2] [--evaluator local]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from engine.results.validation import reasons, repo_table  # noqa: E402
from engine.store import StoreReader  # noqa: E402
from engine.workspace.repos import source_url  # noqa: E402


def held(template: str, repo: str) -> bool:
    """Whether a local repo source holds ``repo`` (a remote one is assumed to)."""
    local = source_url(template, repo).removeprefix("file://")
    return not local.startswith("/") or Path(local).exists()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data" / "swebench_lite")
    parser.add_argument("--repo-source", required=True)
    parser.add_argument("--runs-dir", type=Path, required=True)
    parser.add_argument("--repos", help="comma-separated owner/name (default: every one the source holds)")
    parser.add_argument("--skip-repos", default="", help="comma-separated owner/name to leave out")
    parser.add_argument("--limit-per-repo", type=int, default=None)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--evaluator", default="local")
    parser.add_argument("--again", action="store_true")
    parser.add_argument("--redo", default="", help="statuses to redo, e.g. infra,env_broken")
    parser.add_argument("--rebuild-failed", action="store_true")
    args = parser.parse_args()

    rows = [json.loads(line) for name in ("dev.jsonl", "test.jsonl")
            for line in (args.data / name).read_text().splitlines() if line.strip()]  # fmt: skip
    wanted = set(args.repos.split(",")) if args.repos else None
    skipped = set(filter(None, args.skip_repos.split(",")))
    per_repo: dict[str, int] = defaultdict(int)
    chosen = []
    unsourced: dict[str, int] = defaultdict(int)
    for row in rows:
        repo = row["repo"]
        if (wanted and repo not in wanted) or repo in skipped:
            continue
        if not held(args.repo_source, repo):
            unsourced[repo] += 1
            continue
        if args.limit_per_repo is not None and per_repo[repo] >= args.limit_per_repo:
            continue
        per_repo[repo] += 1
        chosen.append(row)
    if not chosen:
        sys.exit(f"no Lite rows of {args.repos or 'any repository'} are held by {args.repo_source}")
    args.runs_dir.mkdir(parents=True, exist_ok=True)
    selection = args.runs_dir / "lite-selection.jsonl"
    selection.write_text("".join(json.dumps(row) + "\n" for row in chosen))
    print(f"{len(chosen)} rows of {len(per_repo)} repositories -> {selection}", flush=True)
    for repo, count in sorted(unsourced.items()):
        print(f"  left out: {count} row(s) of {repo}, which {args.repo_source} does not hold")

    started = time.monotonic()
    command = [sys.executable, "-m", "engine", "validate", "--dataset", str(selection),
               "--repo-source", args.repo_source, "--runs-dir", str(args.runs_dir),
               "--jobs", str(args.jobs), "--evaluator", args.evaluator,
               *(["--again"] if args.again else []), *(["--redo", args.redo] if args.redo else []),
               *(["--rebuild-failed"] if args.rebuild_failed else [])]  # fmt: skip
    code = subprocess.call(command, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
    wall = time.monotonic() - started

    ids = {row["instance_id"] for row in chosen}
    with StoreReader(args.runs_dir / "ramp.sqlite") as reader:
        registry = [r for r in reader.validations() if r["instance_id"] in ids]
    print("\n# Validation registry for this selection")
    print(repo_table(registry))
    for line in reasons(registry, limit=240):
        print("  " + line)
    setup = sum(float(r.get("build_s") or 0) for r in registry)
    tests = sum(float(r.get("test_s") or 0) for r in registry)
    print(f"\nrows {len(registry)}/{len(chosen)}; wall {wall:.0f}s this invocation; setup (environment builds "
          f"and checkouts) {setup:.0f}s vs tests {tests:.0f}s, summed over instances")
    return code


if __name__ == "__main__":
    raise SystemExit(main())
