"""What containers cost: per-evaluation overhead, image build times, and the image cache's disk.

    python benchmarks/docker_overhead.py [--instances 6] [--repeats 3] [--cache-dir DIR]

Needs a running daemon and the base image (``python -m engine.docker.base``). Prints:

- the bare cost of a container (create, start, one ``true``, remove);
- per bundled instance, the median wall time of a gold evaluation with the local evaluator and with
  the docker evaluator (environments warm in both), and the median of their differences: the
  overhead a container adds to one evaluation;
- the time to build one environment image (a fresh key, removed afterwards) and one Python layer
  (a copy of the host's 3.9 when there is one, removed afterwards);
- the disk Ramp's images hold, by kind.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
import uuid
from pathlib import Path

import anyio

from engine.datasets.bundled import build_bundled
from engine.docker.client import LABEL_KIND, call, labels
from engine.docker.containers import running
from engine.docker.images import _skip_bulk, host_prefix
from engine.evaluators.base import EvalRequest
from engine.evaluators.docker import DockerEvaluator, DockerEvaluatorConfig
from engine.evaluators.docker_envs import env_tag
from engine.evaluators.local import LocalEvaluator, LocalEvaluatorConfig


async def timed(evaluator, row, logs: Path) -> float:
    started = time.monotonic()
    result = await evaluator.evaluate(
        EvalRequest(instance=row, patch=row.patch, log_dir=logs / uuid.uuid4().hex[:8])
    )
    assert result.resolved, (row.instance_id, result.detail)
    return time.monotonic() - started


async def main(instances: int, repeats: int, cache: Path) -> None:
    rows, source = build_bundled(cache)
    rows = rows[:instances]
    logs = cache / "bench-logs"
    local = LocalEvaluator(LocalEvaluatorConfig(), cache_dir=cache, repo_source=source)
    docker = DockerEvaluator(DockerEvaluatorConfig(), cache_dir=cache, repo_source=source)
    client = await docker.backend.connect()

    bare = []
    for _ in range(repeats * 3):
        started = time.monotonic()
        async with running(client, "ramp/base:bookworm", labels=labels("bench")) as box:
            await box.exec(["true"])
        bare.append(time.monotonic() - started)
    print(f"bare container (create, start, exec true, remove): median {statistics.median(bare):.3f} s")

    print(f"\n{'instance':<32} {'local s':>8} {'docker s':>9} {'overhead s':>11}")
    overheads = []
    for row in rows:
        await timed(local, row, logs)  # warm: environment built, caches hot
        await timed(docker, row, logs)
        here = statistics.median([await timed(local, row, logs) for _ in range(repeats)])
        there = statistics.median([await timed(docker, row, logs) for _ in range(repeats)])
        overheads.append(there - here)
        print(f"{row.instance_id:<32} {here:>8.2f} {there:>9.2f} {there - here:>11.2f}")
    print(f"median container overhead per evaluation: {statistics.median(overheads):.2f} s")

    fresh = DockerEvaluator(
        DockerEvaluatorConfig(exclude_newer_exempt=["atomicwrites", f"bench-{uuid.uuid4().hex[:6]}"]),
        cache_dir=cache, repo_source=source,
    )  # fmt: skip
    await fresh.backend.connect()
    started = time.monotonic()
    env, _ = await fresh.backend.envs.get(rows[0])
    print(f"\nenvironment image build ({rows[0].repo}, Python {env.python_version}): "
          f"{time.monotonic() - started:.1f} s")  # fmt: skip
    await call(client.images.remove, env_tag(fresh.backend.envs.key(rows[0])))

    prefix = await anyio.to_thread.run_sync(host_prefix, "3.9", ["pyenv", "uv"])
    if prefix is not None:
        tag = f"ramp/python:bench-{uuid.uuid4().hex[:6]}"
        started = time.monotonic()
        await docker.backend.images.commit_tree(
            "ramp/base:bookworm", prefix, tag, labels("bench"), exclude=_skip_bulk
        )
        print(f"Python layer build (host's 3.9 copied in): {time.monotonic() - started:.1f} s")
        await call(client.images.remove, tag)

    total, images = await docker.backend.images.usage()
    kinds: dict[str, list[int]] = {}
    for image in images:
        own = max(0, image["Size"] - max(0, image.get("SharedSize", 0)))
        kinds.setdefault((image.get("Labels") or {}).get(LABEL_KIND, "?"), []).append(own)
    print(f"\nimage cache: {total / 2**20:.0f} MiB in {len(images)} Ramp images")
    for kind, sizes in sorted(kinds.items()):
        print(f"  {kind:<7} {len(sizes):>3} images, {sum(sizes) / 2**20:>7.1f} MiB not shared")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--instances", type=int, default=6)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--cache-dir", type=Path, default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="ramp-bench-") as scratch:
        anyio.run(main, args.instances, args.repeats, args.cache_dir or Path(scratch))
