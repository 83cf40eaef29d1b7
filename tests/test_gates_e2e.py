"""Gates end to end: `ramp run` in a subprocess on bundled tasks, evaluated for real.

Every phase ends in a verdict; a gate configured so it cannot pass ends the run with exit code 1; a
passing ramp goes through every phase; and under manual approval a headless run waits at the gate
until `ramp ctl RUN approve` is written from another process.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
INSTANCES = "ramp-bundled__romans-1,ramp-bundled__iniparse-1"

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Shared repo clones and venvs, so each bundled environment is built once for the module."""
    return tmp_path_factory.mktemp("cache")


def ramp_env(cache: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAMP_")}
    return {**env, "RAMP_PATHS__CACHE_DIR": str(cache), **extra}


def run(args: list[str], cache: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "engine", *args], cwd=ROOT, env=ramp_env(cache, **env),
        capture_output=True, text=True, timeout=600,
    )


def events(stdout: str) -> list[dict]:
    return [json.loads(line) for line in stdout.splitlines() if line.startswith("{")]


def ramp_run(tmp_path: Path, *extra: str) -> list[str]:
    return ["run", "--dataset", "bundled", "--instances", INSTANCES, "--headless", "--json",
            "--runs-dir", str(tmp_path / "runs"), "--run-id", "r", *extra]


def test_a_passing_ramp_proceeds_through_every_phase_with_a_verdict_each(tmp_path, cache):
    out = run(ramp_run(tmp_path, "--agent", "gold", "--phases", "1,2", "--auto-approve"), cache)
    assert out.returncode == 0, out.stderr
    lines = events(out.stdout)
    verdicts = [e for e in lines if e["kind"] == "gate_verdict"]
    assert [(v["phase"], v["tier"]) for v in verdicts] == [(0, "PROCEED"), (1, "PROCEED")]
    assert verdicts[0]["rule"].startswith("not EXCELLENT: ci_width < 0.05 failed")
    assert verdicts[0]["projection"]["new_instances"] == 1 and verdicts[1]["projection"] == {}
    decisions = [e for e in lines if e["kind"] == "gate_decision"]
    assert [(d["phase"], d["decision"], d["by"]) for d in decisions] == [(0, "approve", "policy:auto")]
    summary = lines[-1]
    assert summary["kind"] == "summary" and summary["exit_code"] == 0
    assert summary["metrics"]["resolved_rate"] == 1.0
    assert [g["tier"] for g in summary["metrics"]["gates"]] == ["PROCEED", "PROCEED"]


def test_a_gate_that_cannot_pass_stops_the_run_with_exit_1(tmp_path, cache):
    out = run(ramp_run(tmp_path, "--agent", "gold", "--phases", "1,2", "--auto-approve"), cache,
              RAMP_RAMP__GATE__STOP='["resolved_rate > 2"]')
    assert out.returncode == 1, out.stderr
    lines = events(out.stdout)
    assert [e["phase"] for e in lines if e["kind"] == "phase_started"] == [0]     # phase 2 never starts
    verdict = next(e for e in lines if e["kind"] == "gate_verdict")
    assert (verdict["tier"], verdict["rule"]) == ("STOP", "resolved_rate > 2 failed (1)")
    assert lines[-1]["status"] == "gate_stop" and lines[-1]["exit_code"] == 1


def test_the_only_phase_ends_in_a_verdict_that_sets_the_exit_code(tmp_path, cache):
    config = tmp_path / "ramp.yaml"
    config.write_text("ramp:\n  gate:\n    stop: ['resolved_rate >= 0.99']\n")
    out = run(ramp_run(tmp_path, "--agent", "empty", "-c", str(config)), cache)
    assert out.returncode == 1, out.stderr
    lines = events(out.stdout)
    verdicts = [e for e in lines if e["kind"] == "gate_verdict"]
    assert [(v["phase"], v["tier"]) for v in verdicts] == [(0, "STOP")]
    assert verdicts[0]["rule"] == "resolved_rate >= 0.99 failed (0)"
    assert not [e for e in lines if e["kind"] == "gate_decision"]               # the last gate never waits


def test_manual_approval_waits_for_ramp_ctl_approve(tmp_path, cache):
    store = tmp_path / "runs" / "ramp.sqlite"
    proc = subprocess.Popen(
        [sys.executable, "-m", "engine", *ramp_run(tmp_path, "--agent", "gold", "--phases", "1,2")],
        cwd=ROOT, env=ramp_env(cache), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        deadline = time.monotonic() + 300
        status = None
        while status != "awaiting_approval":
            assert time.monotonic() < deadline, "the run never reached its first gate"
            assert proc.poll() is None, proc.communicate()
            time.sleep(0.5)
            if store.exists():
                with sqlite3.connect(f"file:{store}?mode=ro", uri=True) as conn:
                    row = conn.execute("SELECT status FROM phases WHERE run_id='r' AND phase=0").fetchone()
                status = row[0] if row else None
        time.sleep(2)
        assert proc.poll() is None                                              # still waiting
        ctl = run(["ctl", "r", "approve", "--runs-dir", str(tmp_path / "runs")], cache)
        assert ctl.returncode == 0, ctl.stderr
        stdout, stderr = proc.communicate(timeout=300)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, stderr
    lines = events(stdout)
    alert = next(e for e in lines if e["kind"] == "alert" and "Waiting for approval" in e["message"])
    assert "ramp ctl r approve" in alert["message"]
    decision = next(e for e in lines if e["kind"] == "gate_decision")
    assert (decision["decision"], decision["by"]) == ("approve", "operator")
    assert [e["tier"] for e in lines if e["kind"] == "gate_verdict"] == ["PROCEED", "PROCEED"]
