"""Scheduler overhead and store write speed.

1. Many attempts of a no-op agent and a no-op evaluator that each sleep a fixed time, through the real
   scheduler, store and governor. The ideal makespan is the work divided by the concurrency of the
   slower lane (agent lane: agent_concurrency slots; evaluation lane: max_concurrent_evals slots),
   plus one item of the other lane (pipeline fill); whatever the scheduler adds on top is overhead.
2. How fast typed events are appended to the store (each append is its own committed transaction).

Run: python benchmarks/scheduler_overhead.py [--instances 200] [--attempts 2]
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path

import anyio

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engine.agents.base import AgentResult, Budgets  # noqa: E402
from engine.core.artifacts import RunFolder  # noqa: E402
from engine.core.config import GovernorConfig  # noqa: E402
from engine.core.events import AgentStep  # noqa: E402
from engine.datasets.rows import SWEInstance  # noqa: E402
from engine.evaluators.base import EvalResult  # noqa: E402
from engine.run.context import Backends, Plan, RunContext, RunOptions  # noqa: E402
from engine.run.display import NullDisplay  # noqa: E402
from engine.run.governor import Governor, HostSample  # noqa: E402
from engine.run.scheduler import Scheduler  # noqa: E402
from engine.store import Store  # noqa: E402


class SleepAgent:
    name = "sleep"
    needs_model = False

    def __init__(self, seconds: float):
        self.seconds = seconds

    async def run(self, task, sandbox, model, reporter):
        await anyio.sleep(self.seconds)
        return AgentResult(patch="diff --git a/x b/x\n", exit_status="submitted", steps=1)


class SleepEvaluator:
    name = "sleep"

    def __init__(self, seconds: float):
        self.seconds = seconds

    async def evaluate(self, request):
        await anyio.sleep(self.seconds)
        return EvalResult(resolved=False, applied=True, duration_s=self.seconds)


class NoSandbox:
    async def create(self, instance, key):
        return self

    async def aclose(self):
        pass


def rows(n: int) -> list[SWEInstance]:
    return [
        SWEInstance(
            instance_id=f"bench__repo{i % 7}-{i}", repo=f"bench/repo{i % 7}", base_commit="0" * 40,
            test_patch="", version="1.0", FAIL_TO_PASS=["t"], PASS_TO_PASS=[],
        )
        for i in range(n)
    ]


async def scheduler_overhead(n: int, attempts: int, agent_s: float, eval_s: float, lanes: tuple[int, int]) -> None:
    agent_conc, eval_conc = lanes
    with tempfile.TemporaryDirectory() as tmp:
        store = await Store(Path(tmp) / "ramp.sqlite").open()
        run_id = "bench"
        instances = rows(n)
        await store.create_run(run_id, config={}, meta={})
        await store.add_instances(run_id, [(i.instance_id, i.repo, 0, p) for p, i in enumerate(instances)])
        await store.set_phases(run_id, [(n, None)])
        governor = Governor(
            GovernorConfig(max_concurrent_evals=eval_conc, min_free_disk_mb=0, min_free_memory_mb=0, settle_s=0),
            Path(tmp), sampler=lambda: HostSample(0.0, 1e6, 1e6),
        )
        scheduler = Scheduler(RunContext(
            run_id=run_id, store=store, folder=RunFolder(Path(tmp), run_id),
            options=RunOptions(attempts=attempts, attempt_policy="fixed", agent_concurrency=agent_conc,
                               budgets=Budgets(max_wall_s=None)),
            backends=Backends(SleepAgent(agent_s), SleepEvaluator(eval_s), NoSandbox()),
            governor=governor, display=NullDisplay(), plan=Plan.of(instances, [n]),
        ))
        started, cpu_before = time.perf_counter(), _cpu_s()
        await scheduler.run()
        makespan, cpu = time.perf_counter() - started, _cpu_s() - cpu_before
        events = len(await store.events(run_id, limit=10**9))
        await store.close()
    total = n * attempts
    # The slower lane sets the pace; the other lane adds one item of pipeline fill or drain.
    ideal = max(total * agent_s / agent_conc + eval_s, agent_s + total * eval_s / eval_conc)
    print(f"scheduler: {n} instances x {attempts} attempts = {total} attempts, agent {agent_s}s x{agent_conc}, "
          f"eval {eval_s}s x{eval_conc}")
    print(f"  makespan {makespan:.2f}s vs ideal {ideal:.2f}s -> overhead {makespan - ideal:.2f}s "
          f"({(makespan / ideal - 1) * 100:.1f}%), {(makespan - ideal) / total * 1000:.1f} ms per attempt; "
          f"{events} events written")
    print(f"  CPU of the whole process (every thread: event loop, aiosqlite, workers): {cpu:.2f}s, "
          f"{cpu / total * 1000:.1f} ms per attempt")


def _cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def store_write_rate(count: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        store = await Store(Path(tmp) / "ramp.sqlite").open()
        started = time.perf_counter()
        for i in range(count):
            await store.append(AgentStep(run_id="bench", instance_id=f"i{i % 50}", attempt=1, step=i, summary="step"))
        elapsed = time.perf_counter() - started
        await store.close()
    print(f"store: {count} events appended in {elapsed:.2f}s -> {count / elapsed:,.0f} events/s "
          f"({elapsed / count * 1e6:.0f} us each, each its own committed transaction)")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--instances", type=int, default=200)
    parser.add_argument("--attempts", type=int, default=2)
    parser.add_argument("--agent-s", type=float, default=0.2)
    parser.add_argument("--eval-s", type=float, default=0.1)
    parser.add_argument("--agent-lanes", type=int, default=8)
    parser.add_argument("--eval-lanes", type=int, default=4)
    parser.add_argument("--events", type=int, default=20000)
    args = parser.parse_args()
    anyio.run(scheduler_overhead, args.instances, args.attempts, args.agent_s, args.eval_s,
              (args.agent_lanes, args.eval_lanes))
    anyio.run(store_write_rate, args.events)


if __name__ == "__main__":
    main()
