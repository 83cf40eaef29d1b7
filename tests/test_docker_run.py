"""`ramp run --evaluator docker` end to end, and a run killed mid-evaluation leaving nothing behind."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import pytest

from engine.datasets.bundled import build_bundled
from engine.docker.client import LABEL_KIND
from engine.docker.hygiene import container_labels
from tests.dockerhelpers import docker_client, run_containers
from tests.runhelpers import json_lines, ramp, ramp_popen
from tests.test_docker_evaluator import hostile

pytestmark = [pytest.mark.docker, pytest.mark.slow]


@pytest.fixture(scope="module")
def client():
    return docker_client()


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("run-cache")


@pytest.mark.parametrize(("agent", "outcome"), [("gold", "resolved"), ("empty", "unresolved")])
def test_bundled_run_in_containers(client, cache_dir: Path, tmp_path: Path, agent: str, outcome: str) -> None:
    out = ramp(
        ["run", "--dataset", "bundled", "--agent", agent, "--evaluator", "docker", "--headless",
         "--json", "--runs-dir", str(tmp_path), "--run-id", f"docker-{agent}"],
        cache_dir=cache_dir,
    )  # fmt: skip
    summary = json_lines(out.stdout)[-1]
    assert summary["kind"] == "summary", out.stderr[-3000:]
    assert len(summary["outcomes"]) == 12
    assert set(summary["outcomes"].values()) == {outcome}, summary["outcomes"]
    started = next(e for e in json_lines(out.stdout) if e["kind"] == "run_started")
    assert started["evaluator"] == "swebench-docker"
    assert run_containers(client, f"docker-{agent}") == []


def test_killed_run_leaves_containers_the_next_start_removes(client, cache_dir: Path, tmp_path: Path) -> None:
    rows, source = build_bundled(cache_dir)
    slow = hostile(rows[0], {"test_sleeps": "time.sleep(300)\n"})
    dataset = tmp_path / "slow.jsonl"
    dataset.write_text(json.dumps(slow.to_swebench_row()) + "\n")
    runs = tmp_path / "runs"
    process = ramp_popen(
        ["run", "--dataset", str(dataset), "--repo-source", source, "--agent", "empty",
         "--evaluator", "docker", "--headless", "--runs-dir", str(runs), "--run-id", "killed-1"],
        cache_dir=cache_dir,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 300
        while not [c for c in run_containers(client, "killed-1") if container_labels(c)[LABEL_KIND] == "eval"]:
            assert process.poll() is None, process.communicate()[1][-3000:]
            assert time.monotonic() < deadline, "no evaluation container appeared"
            time.sleep(0.2)
        time.sleep(2)  # the tests are running now
        os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
        process.communicate()
    assert run_containers(client, "killed-1"), "SIGKILL leaves the evaluation container behind"

    out = ramp(
        ["run", "--dataset", "bundled", "--agent", "gold", "--evaluator", "docker", "--headless",
         "--limit", "1", "--runs-dir", str(runs), "--run-id", "after-kill"],
        cache_dir=cache_dir,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-3000:]
    assert run_containers(client, "killed-1") == []
