"""The governor under two workloads, with the real host sampler (psutil) and real processes.

1. Short evaluations: N evaluations that each sleep ``--short-s`` (an evaluation whose tests are
   I/O-bound or tiny). They must not serialise: the lane should stay near its cap.
2. CPU-bound evaluations: M processes that each burn one core for ``--burn-s`` seconds. The host's
   CPU must stay near ``cpu_target`` of all cores, not above it, while evaluations wait.

Prints wall time against the ideal, the mean number of evaluations running (lane utilisation), and,
for the CPU-bound workload, host CPU over time (psutil, every 0.5 s) and its mean and peak. The
backlog is the time until the last evaluation started: while it lasts, the governor alone decides
how much runs, so that is where host CPU must be at the target and the lane busy. Lane busy is the
mean number running then against the number the target allows (target cores / one core each).

    python benchmarks/governor.py [--short 200 --short-s 0.05] [--burn 16 --burn-s 3]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

import anyio
import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from engine.core.config import GovernorConfig  # noqa: E402
from engine.run.governor import Governor  # noqa: E402

BURN = "import time\nend = time.perf_counter() + {s}\nwhile time.perf_counter() < end:\n    pass\n"


def mean_over(samples: list[tuple[float, float]], until: float) -> float:
    """Mean of the 0.5 s CPU samples that ended by ``until``."""
    inside = [value for at, value in samples if at <= until]
    return statistics.mean(inside) if inside else float("nan")


async def drive(governor: Governor, jobs: int, work, lane: list[tuple[float, int]],
                starts: list[float] | None = None) -> float:
    """Run ``jobs`` evaluations through the governor; record (time, running) as it changes, and
    each start's time in ``starts``."""
    started = time.perf_counter()

    async def one() -> None:
        async with governor.eval_slot():
            lane.append((time.perf_counter() - started, governor.snapshot().running))
            if starts is not None:
                starts.append(lane[-1][0])
            await work()
        lane.append((time.perf_counter() - started, governor.snapshot().running))

    async with anyio.create_task_group() as tg:
        tg.start_soon(governor.run)
        async with anyio.create_task_group() as jobs_tg:
            for _ in range(jobs):
                jobs_tg.start_soon(one)
        tg.cancel_scope.cancel()
    return time.perf_counter() - started


def mean_running(lane: list[tuple[float, int]], wall: float) -> float:
    """Time-weighted mean of evaluations running."""
    points = sorted(lane)
    total = 0.0
    for (t0, running), (t1, _) in zip(points, points[1:] + [(wall, 0)], strict=False):
        total += running * max(0.0, t1 - t0)
    return total / wall if wall else 0.0


async def short(args: argparse.Namespace, tmp: Path) -> None:
    config = GovernorConfig(max_concurrent_evals=args.cap)
    governor = Governor(config, tmp)
    lane: list[tuple[float, int]] = []

    async def work() -> None:
        await anyio.sleep(args.short_s)

    wall = await drive(governor, args.short, work, lane)
    ideal = args.short * args.short_s / args.cap
    print(f"short evaluations: {args.short} x {args.short_s}s, cap {args.cap}, settle_s {config.settle_s}: "
          f"wall {wall:.2f}s vs ideal {ideal:.2f}s ({wall / ideal:.1f}x), mean running {mean_running(lane, wall):.2f}")


async def burn(args: argparse.Namespace, tmp: Path) -> None:
    config = GovernorConfig(max_concurrent_evals=args.burn)  # the cap never binds: CPU must
    governor = Governor(config, tmp)
    lane: list[tuple[float, int]] = []
    starts: list[float] = []
    cpu: list[tuple[float, float]] = []
    began = time.perf_counter()

    async def work() -> None:
        await anyio.run_process([sys.executable, "-c", BURN.format(s=args.burn_s)], check=True,
                                stdout=subprocess.DEVNULL)

    async def watch() -> None:
        # Its own deltas of cpu_times: psutil.cpu_percent(interval=None) shares one "since the last
        # call" with the governor's sampler, and two callers would halve each other's intervals.
        last = psutil.cpu_times()
        while True:
            await anyio.sleep(0.5)
            now = psutil.cpu_times()
            total = sum(now) - sum(last)
            idle = (now.idle + getattr(now, "iowait", 0.0)) - (last.idle + getattr(last, "iowait", 0.0))
            cpu.append((time.perf_counter() - began, 100.0 * (1 - idle / total) if total > 0 else 0.0))
            last = now

    async with anyio.create_task_group() as tg:
        tg.start_soon(watch)
        wall = await drive(governor, args.burn, work, lane, starts)
        tg.cancel_scope.cancel()
    cores = psutil.cpu_count() or 1
    ideal = args.burn * args.burn_s / (config.cpu_target * cores)
    values = [c for _, c in cpu]
    backlog = max(starts)  # the last start: until then, evaluations waited
    in_backlog = [(at, running) for at, running in lane if at <= backlog]
    lane_busy = mean_running(in_backlog, backlog) / (config.cpu_target * cores) if backlog else float("nan")
    print(f"CPU-bound evaluations: {args.burn} x {args.burn_s}s of one core each, {cores} cores, target "
          f"{config.cpu_target:.0%}: wall {wall:.1f}s (one core each at the target: {ideal:.1f}s), "
          f"mean running {mean_running(lane, wall):.2f}, host CPU mean {statistics.mean(values):.0f}% "
          f"peak {max(values):.0f}%")
    print(f"  while evaluations waited (first {backlog:.1f}s): host CPU mean {mean_over(cpu, backlog):.1f}%, "
          f"lane busy {lane_busy:.0%} of the {config.cpu_target * cores:.1f} evaluations the target allows")
    print("  host CPU every 0.5 s: " + " ".join(f"{c:.0f}" for c in values))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--short", type=int, default=200)
    parser.add_argument("--short-s", type=float, default=0.05)
    parser.add_argument("--cap", type=int, default=4)
    parser.add_argument("--burn", type=int, default=16)
    parser.add_argument("--burn-s", type=float, default=3.0)
    args = parser.parse_args()
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        anyio.run(short, args, Path(tmp))
        anyio.run(burn, args, Path(tmp))


if __name__ == "__main__":
    main()
