"""How long ``ramp leaderboard`` takes over many runs: the first time (every run's metrics computed
and kept in the store) and after (each run's fingerprint checked, its kept metrics reused).

Fills a store with ``--runs`` finished runs of ``--instances`` instances (one graded attempt and
two model calls each, every tenth run an empty-agent baseline on the same data), then times the
real command, ``ramp leaderboard --json``, twice, as a child process, and prints wall and CPU.

Run: python benchmarks/leaderboard.py [--runs 200] [--instances 300]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import anyio

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from engine.store import Store  # noqa: E402


async def fill(path: Path, runs: int, instances: int) -> None:
    async with Store(path) as store:
        for r in range(runs):
            run_id, agent = f"run-{r:04d}", "empty" if r % 10 == 0 else "direct-edit"
            ids = [(f"org__repo-{i}", f"org/repo{i % 12}", 0, i) for i in range(instances)]
            await store.create_run(run_id, config={"run": {"agent": agent}, "ramp": {}}, instances=ids,
                                   phases=[(instances, None)],
                                   meta={"agent": agent, "dataset": "lite", "dataset_sha": "sha"})  # fmt: skip
            statements = []
            for n, (iid, _, _, _) in enumerate(ids):
                resolved = agent != "empty" and (n + r) % 3 == 0
                outcome = "resolved" if resolved else "unresolved"
                statements += store.attempt_start(run_id, iid, 1)
                statements.append(store.attempt_update(run_id, iid, 1, {
                    "status": "done", "outcome": outcome, "finished_at": 10.0, "agent_s": 5.0, "eval_s": 5.0}))
                statements.append(store.evaluation_insert(run_id, iid, 1, 0, {
                    "evaluator": "local", "resolved": int(resolved), "applied": 1,
                    "f2p": {"success": ["t1"] if resolved else [], "failure": [] if resolved else ["t1"]},
                    "p2p": {"success": ["t2", "t3"], "failure": []}}))
                statements.append(store.instance_update(run_id, iid, {"state": outcome, "outcome": outcome}))
                for _ in range(2):
                    statements.append((
                        "INSERT INTO llm_calls (run_id, instance_id, attempt, model_id, provider, input_tokens,"
                        " output_tokens, cost_usd, latency_s, status, ts, day) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                        (run_id, iid, 1, "m", "p", 2000, 150, 0.001, 1.0, "ok", 0.0, "2026-11-29")))
            await store.apply(statements)
            await store.update_run(run_id, status="completed")


def timed(runs_dir: Path) -> tuple[float, float, int]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "engine", "leaderboard", "--json", "--runs-dir", str(runs_dir)],
                          cwd=ROOT, capture_output=True, text=True, check=True)  # fmt: skip
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    return wall, cpu, len(json.loads(done.stdout))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--instances", type=int, default=300)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="ramp-board-") as tmp:
        started = time.perf_counter()
        anyio.run(fill, Path(tmp) / "ramp.sqlite", args.runs, args.instances)
        print(f"filled {args.runs} runs x {args.instances} instances in {time.perf_counter() - started:.1f}s")
        for label in ("first (computes and keeps every run's metrics)", "again (kept metrics reused)"):
            wall, cpu, rows = timed(Path(tmp))
            print(f"ramp leaderboard, {label}: {rows} rows, wall {wall:.2f}s, CPU {cpu:.2f}s")


if __name__ == "__main__":
    main()
