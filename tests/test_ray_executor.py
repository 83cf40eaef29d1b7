"""The Ray executor on a real local Ray cluster: a head and a second node started with `ray start`
on loopback, the bundled tasks run through it, the second node killed mid-run.

Skipped with the reason when Ray is not installed (it is an optional extra: pip install -e ".[ray]";
CI installs it).
"""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import pytest

from tests.raycluster import Cluster
from tests.runhelpers import db_rows, free_port, ramp, ramp_popen

pytest.importorskip("ray", reason='Ray is an optional extra: pip install -e ".[ray]"')

pytestmark = pytest.mark.slow

@pytest.fixture(scope="module")
def cluster():
    c = Cluster()
    try:
        yield c
    finally:
        c.stop()


def _gold(runs: Path, cache: Path, executor: list[str], run_id: str) -> subprocess.Popen:
    return ramp_popen(["run", "--dataset", "bundled", "--agent", "gold", "--headless", "--json", "--auto-approve",
                       "--runs-dir", str(runs), "--run-id", run_id, *executor], cache_dir=cache)  # fmt: skip


def _summary(proc: subprocess.Popen, timeout: float = 600) -> dict:
    out, err = proc.communicate(timeout=timeout)
    lines = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    assert lines and lines[-1]["kind"] == "summary", f"no summary:\n{out[-3000:]}\n{err[-3000:]}"
    return lines[-1]


def test_doctor_checks_the_cluster(cluster, tmp_path):
    """Runs before the kill below: both nodes answer, with their versions and CPUs."""
    out = ramp(["doctor", "--dataset", "bundled", "--executor", "ray", "--ray-address", cluster.address,
                "--runs-dir", str(tmp_path / "runs")], cache_dir=tmp_path / "cache", timeout=300)  # fmt: skip
    lines = out.stdout.splitlines()
    assert any(line.startswith("[ok  ] ray cluster:") and "node(s) alive" in line for line in lines), out.stdout
    nodes = [line for line in lines if line.startswith("[ok  ] ray node ")]
    assert len(nodes) == 2 and all("ramp " in n and "Ray " in n for n in nodes), out.stdout
    assert out.returncode == 0, out.stdout


def test_agents_work_in_sandboxes_on_the_nodes(cluster, tmp_path):
    """`ramp demo` (the direct-edit agent and the scripted model): each attempt's checkout is made
    and edited on a node while the agent's loop and model calls stay here; the outcomes are the
    local executor's, attempt by attempt."""
    on = {"RAMP_RUN__EXECUTOR": "ray", "RAMP_RAY__ADDRESS": cluster.address}
    demo = ["demo", "--headless", "--json", "--auto-approve"]
    on_ray = ramp([*demo, "--runs-dir", str(tmp_path / "ray")], cache_dir=tmp_path / "cache", timeout=600, **on)
    local = ramp([*demo, "--runs-dir", str(tmp_path / "local")], cache_dir=tmp_path / "cache", timeout=600)
    ray_summary, local_summary = json.loads(on_ray.stdout.splitlines()[-1]), json.loads(local.stdout.splitlines()[-1])
    assert ray_summary["outcomes"] == local_summary["outcomes"], on_ray.stderr[-3000:]
    assert "resolved" in ray_summary["outcomes"].values()
    steps = [json.loads(r["data"]) for r in db_rows(tmp_path / "ray", "SELECT data FROM events WHERE kind = 'agent_step'")]
    assert any(s["summary"].startswith("sandbox on node ") for s in steps)
    assert any(s["sub_state"] == "fetch" for s in steps)  # a checkout's progress on a node, shown here
    from tui.details import load_detail  # the detail screen's attempt line says where it ran

    run_id = db_rows(tmp_path / "ray", "SELECT run_id FROM runs")[0]["run_id"]
    iid = next(iter(ray_summary["outcomes"]))
    where = load_detail(tmp_path / "ray" / "ramp.sqlite", run_id, iid).attempts[-1].nodes
    assert where.startswith("sandbox ") and ", eval " in where, where
    assert list((tmp_path / "ray").glob("*/attempts/*.1/trajectory.json"))


def test_gold_on_two_nodes_survives_losing_one(cluster, tmp_path):
    """12/12 resolved with the second node killed while it evaluates: its evaluations fail as infra
    and are retried on the head's node; every attempt is done once; the verdicts are the local
    executor's; the manifest names the executor and each eval.json its node."""
    cache = tmp_path / "cache"
    proc = _gold(tmp_path / "ray", cache, ["--executor", "ray", "--ray-address", cluster.address], "on-ray")
    second = cluster.second_id[:8]
    deadline = time.monotonic() + 300
    killed = False
    while not killed and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.1)
        try:
            steps = db_rows(tmp_path / "ray", "SELECT data FROM events WHERE kind = 'agent_step'")
        except Exception:  # the store is not there yet
            continue
        if any(f"/{second}" in s["data"] and "on node" in s["data"] for s in steps):
            cluster.kill_second_node()  # an evaluation has just started there
            killed = True
    assert killed, "no evaluation ever started on the second node"
    on_ray = _summary(proc)
    assert on_ray["exit_code"] == 0, on_ray
    assert set(on_ray["outcomes"].values()) == {"resolved"} and len(on_ray["outcomes"]) == 12

    runs = tmp_path / "ray"
    attempts = db_rows(runs, "SELECT instance_id, attempt, status, retries FROM attempts WHERE run_id = 'on-ray'")
    assert len(attempts) == 12 and {a["status"] for a in attempts} == {"done"}
    assert {a["attempt"] for a in attempts} == {1}  # nothing graded twice, nothing lost
    alerts = [json.loads(r["data"])["message"] for r in db_rows(runs, "SELECT data FROM events WHERE kind = 'alert'")]
    lost = [m for m in alerts if "infra: ray:" in m]
    assert lost, f"the kill hit no evaluation in flight: {alerts}"
    assert sum(a["retries"] for a in attempts) >= len(lost) > 0

    manifest = json.loads((runs / "on-ray" / "manifest.json").read_text())
    assert manifest["executor"]["kind"] == "ray" and manifest["executor"]["address"] == cluster.address
    assert len(manifest["executor"]["nodes"]) == 2
    nodes = {json.loads(p.read_text())["node"] for p in (runs / "on-ray" / "attempts").glob("*.1/eval.json")}
    assert nodes and all("/" in n for n in nodes)
    assert all((p / "test_output.txt").stat().st_size > 0 for p in (runs / "on-ray" / "attempts").iterdir())

    local = _summary(_gold(tmp_path / "local", cache, [], "local"))
    assert local["outcomes"] == on_ray["outcomes"]


def test_a_cluster_that_is_not_there_is_refused_at_once(tmp_path):
    began = time.monotonic()
    out = ramp(["run", "--dataset", "bundled", "--agent", "gold", "--headless", "--executor", "ray",
                "--ray-address", f"127.0.0.1:{free_port()}", "--runs-dir", str(tmp_path / "runs")],
               cache_dir=tmp_path / "cache", timeout=120)  # fmt: skip
    assert out.returncode == 2, out.stderr
    assert "ray.address: no Ray cluster answers at" in out.stderr
    assert time.monotonic() - began < 60
    assert not (tmp_path / "runs" / "ramp.sqlite").exists()  # nothing started, nothing written
