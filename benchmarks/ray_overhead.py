"""What the Ray executor costs per attempt, against the local one, on a real local Ray cluster.

Two measurements, each local then Ray, interleaved ``--repeat`` times:

1. **End to end.** ``ramp run --dataset humaneval --agent gold`` over ``--problems`` problems:
   every attempt is one evaluation (the candidate run in its own jailed process), so the work per
   attempt is small and what Ray adds shows. Printed: wall time, wall time per attempt, and the Ramp
   (head) process's CPU per attempt; the difference per attempt is the executor's overhead.
2. **A sandbox call.** One bundled instance's sandbox made locally and on a node (through its
   actor): the time to make it, and the round trip of ``run("true")`` (median of ``--calls``).

The cluster is a head and a second node started with ``ray start`` on loopback (tests/raycluster.py),
stopped at the end; ``--address HOST:PORT`` uses a running cluster instead.

Run: python benchmarks/ray_overhead.py [--problems 164] [--repeat 2] [--calls 100] [--address HOST:PORT]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def end_to_end(address: str, executor: str, problems: int, work: Path) -> dict[str, float]:
    runs = work / f"runs-{executor}-{time.monotonic_ns()}"
    argv = [sys.executable, "-m", "engine", "run", "--dataset", "humaneval", "--agent", "gold", "--headless", "--json",
            "--auto-approve", "--phases", str(problems), "--runs-dir", str(runs), "--executor", executor]  # fmt: skip
    if executor == "ray":
        argv += ["--ray-address", address]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    began = time.monotonic()
    out = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=3600,
                         env={**os.environ, "RAMP_PATHS__CACHE_DIR": str(work / "cache")})  # fmt: skip
    wall = time.monotonic() - began
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    summary = json.loads(out.stdout.splitlines()[-1]) if out.stdout.strip() else {}
    resolved = sum(v == "resolved" for v in summary.get("outcomes", {}).values())
    if resolved != problems:
        raise SystemExit(f"{executor}: {resolved}/{problems} resolved\n{out.stderr[-3000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"wall_s": wall, "wall_per_attempt_ms": 1000 * wall / problems, "cpu_per_attempt_ms": 1000 * cpu / problems}


def sandbox_calls(address: str, calls: int, work: Path) -> dict[str, dict[str, float]]:
    import anyio

    from engine.core.config import load_settings
    from engine.datasets import resolve_dataset
    from engine.executors import wrap
    from engine.sandbox import build_sandbox_factory
    from engine.workspace.repos import RepoCache

    settings = load_settings(None, overrides={"paths.runs_dir": str(work / "sb"), "paths.cache_dir": str(work / "cache"),
                                              "run.executor": "ray", "ray.address": address})  # fmt: skip
    dataset = resolve_dataset("bundled", lock_path=settings.paths.lock_file, cache_dir=settings.paths.resolved_cache_dir())
    row = dataset.rows[0]
    source = dataset.repo_source
    local = build_sandbox_factory(settings, repo_cache=RepoCache(settings.paths.resolved_cache_dir(), source), run_id="bench")
    _, on_ray, _ = wrap(settings, "bench", source, _NoEvaluator(), local)

    async def measure(factory: object, label: str) -> dict[str, float]:
        began = time.monotonic()
        sandbox = await factory.create(row, f"bench/{label}")  # type: ignore[attr-defined]
        made = time.monotonic() - began
        trips = []
        try:
            for _ in range(calls):
                t = time.monotonic()
                await sandbox.run("true")
                trips.append(time.monotonic() - t)
        finally:
            await sandbox.aclose()
        return {"create_s": made, "call_ms": 1000 * statistics.median(trips)}

    async def both() -> dict[str, dict[str, float]]:
        await measure(local, "warm")  # the repo cache is filled once, for both
        return {"local": await measure(local, "local"), "ray": await measure(on_ray, "ray")}

    return anyio.run(both)


class _NoEvaluator:
    name = "none"
    asks_model = True  # keeps wrap from sending it anywhere: only the sandboxes are measured


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--problems", type=int, default=164)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--calls", type=int, default=100)
    parser.add_argument("--address", help="a running cluster's head; default: start one here")
    args = parser.parse_args()
    cluster = None
    if args.address is None:
        from tests.raycluster import Cluster

        print("starting a local two-node Ray cluster (head 1 CPU, second node 2 CPUs) ...", flush=True)
        cluster = Cluster()
    address = args.address or cluster.address  # type: ignore[union-attr]
    try:
        with tempfile.TemporaryDirectory(prefix="ray-bench-") as tmp:
            work = Path(tmp)
            rows: dict[str, list[dict[str, float]]] = {"local": [], "ray": []}
            for i in range(args.repeat):
                for executor in ("local", "ray"):
                    figures = end_to_end(address, executor, args.problems, work)
                    rows[executor].append(figures)
                    print(f"  pair {i + 1} {executor:5}: wall {figures['wall_s']:.1f} s, "
                          f"{figures['wall_per_attempt_ms']:.1f} ms/attempt wall, "
                          f"{figures['cpu_per_attempt_ms']:.1f} ms/attempt head CPU", flush=True)  # fmt: skip
            med = {k: {f: statistics.median(r[f] for r in v) for f in v[0]} for k, v in rows.items()}
            print(f"\nend to end, HumanEval gold x {args.problems}, median of {args.repeat}:")
            for executor, figures in med.items():
                print(f"  {executor:5}  wall {figures['wall_s']:6.1f} s   {figures['wall_per_attempt_ms']:6.1f} ms/attempt   "
                      f"head CPU {figures['cpu_per_attempt_ms']:5.1f} ms/attempt")  # fmt: skip
            print(f"  Ray's overhead per attempt: {med['ray']['wall_per_attempt_ms'] - med['local']['wall_per_attempt_ms']:+.1f} ms "
                  f"wall, {med['ray']['cpu_per_attempt_ms'] - med['local']['cpu_per_attempt_ms']:+.1f} ms head CPU")  # fmt: skip
            calls = sandbox_calls(address, args.calls, work)
            print(f"\nsandbox (bundled instance), median of {args.calls} run('true') calls:")
            for where, figures in calls.items():
                print(f"  {where:5}  made in {figures['create_s']:.2f} s   call round trip {figures['call_ms']:.1f} ms")
    finally:
        if cluster is not None:
            cluster.stop()


if __name__ == "__main__":
    main()
