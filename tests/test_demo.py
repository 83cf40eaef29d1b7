"""`ramp demo` end to end in a subprocess: three phases, the whole agent loop, real evaluations.

The scripted answers say what each task's story is (engine/demo/answers/*.yaml, ``expect``); the
run must tell exactly those stories: first-try and after-feedback tasks resolved with one or more
edit replies, the never tasks unresolved.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from engine.demo.script import scripts

from .agenthelpers import shared_cache
from .runhelpers import db_rows, json_lines, ramp

pytestmark = pytest.mark.slow


def test_demo_runs_every_phase_and_tells_each_story(tmp_path):
    runs = tmp_path / "runs"
    out = ramp(["demo", "--headless", "--json", "--auto-approve", "--runs-dir", str(runs), "--run-id", "demo-1"],
               cache_dir=shared_cache())
    assert out.returncode == 0, out.stderr[-3000:]
    events = json_lines(out.stdout)
    summary = events[-1]
    assert summary["kind"] == "summary" and summary["status"] == "completed" and summary["exit_code"] == 0

    expected = {iid: "unresolved" if s.expect == "never" else "resolved" for iid, s in scripts().items()}
    assert summary["outcomes"] == expected
    assert set(summary["outcomes"].values()) == {"resolved", "unresolved"}

    assert [e["size"] for e in events if e["kind"] == "phase_started"] == [4, 8, 12]
    assert len([e for e in events if e["kind"] == "gate_verdict"]) == 3
    assert [e["by"] for e in events if e["kind"] == "gate_decision"] == ["policy:auto", "policy:auto"]
    first_phase = next(e for e in events if e["kind"] == "phase_started")["instance_ids"]
    assert {expected[i] for i in first_phase} == {"resolved", "unresolved"}  # each phase is a mix

    steps = [e for e in events if e["kind"] == "agent_step"]
    assert {e["sub_state"] for e in steps} >= {"localize", "read", "edit", "test", "judge", "submit"}
    assert {e["instance_id"] for e in steps} == set(expected)

    # First try means one edit reply; after feedback means more than one.
    replies = {}
    for row in db_rows(runs, "SELECT instance_id, trajectory_path FROM attempts WHERE run_id = 'demo-1'"):
        trajectory = json.loads(Path(row["trajectory_path"]).read_text())
        replies[row["instance_id"]] = sum(1 for m in trajectory["messages"] if m["role"] == "assistant")
    for iid, script in scripts().items():
        if script.expect == "first-try":
            assert replies[iid] == 1, iid
        elif script.expect == "after-feedback":
            assert replies[iid] > 1, iid


def test_a_bad_demo_config_is_a_usage_error(tmp_path):
    out = ramp(["demo", "--json", "-c", str(tmp_path / "missing.yaml"), "--runs-dir", str(tmp_path / "runs")],
               cache_dir=shared_cache(), timeout=120)
    assert out.returncode == 2
    assert "missing.yaml" in out.stderr
    assert json.loads(out.stdout.splitlines()[-1])["kind"] == "summary"


def test_the_demo_stops_with_exit_1_when_a_gate_must_fail(tmp_path):
    runs = tmp_path / "runs"
    out = ramp(["demo", "--headless", "--json", "--auto-approve", "--runs-dir", str(runs), "--run-id", "demo-stop"],
               cache_dir=shared_cache(), RAMP_RAMP__GATE__STOP='["resolved_rate >= 0.9"]')
    assert out.returncode == 1, out.stderr[-3000:]
    events = json_lines(out.stdout)
    verdicts = [e for e in events if e["kind"] == "gate_verdict"]
    assert [(v["phase"], v["tier"]) for v in verdicts] == [(0, "STOP")]  # phase 1 is 3 of 4: 0.75
    assert verdicts[0]["rule"] == "resolved_rate >= 0.9 failed (0.75)"
    assert [e["size"] for e in events if e["kind"] == "phase_started"] == [4]
    assert events[-1]["status"] == "gate_stop" and events[-1]["exit_code"] == 1
