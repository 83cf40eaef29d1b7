"""Durability and control: SIGKILL mid-run and restart, Ctrl-C, and the commands table."""

from __future__ import annotations

import json
import os
import signal
import time

import pytest

from .runhelpers import db_rows, json_lines, ramp, ramp_popen

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("cache")


def read_until(proc, predicate, timeout=300.0) -> list[dict]:
    """Read JSON lines from a running `ramp run --json` until predicate(events) holds."""
    events: list[dict] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        if line.startswith("{"):
            events.append(json.loads(line))
            if predicate(events):
                return events
    raise AssertionError(f"condition not reached; last events: {events[-5:]}")


def test_sigkill_mid_run_then_restart_keeps_finished_and_reruns_in_flight(tmp_path, cache_dir):
    runs = tmp_path / "runs"
    args = ["run", "--dataset", "bundled", "--agent", "gold", "--headless", "--json",
            "--runs-dir", str(runs), "--run-id", "kill-1"]
    proc = ramp_popen(args, cache_dir=cache_dir)

    def mid_run(events):
        finished = [e for e in events if e["kind"] == "attempt_finished"]
        evaluating = {e["instance_id"] for e in events if e["kind"] == "state" and e["to_state"] == "evaluating"}
        in_flight = evaluating - {e["instance_id"] for e in finished}
        return len(finished) >= 3 and in_flight

    try:
        read_until(proc, mid_run)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == -signal.SIGKILL

    before = {(a["instance_id"], a["attempt"]): a for a in db_rows(runs, "SELECT * FROM attempts")}
    finished_before = {k: a for k, a in before.items() if a["status"] == "done"}
    in_flight_before = {k for k, a in before.items() if a["status"] != "done"}
    assert finished_before and in_flight_before, before

    out = ramp(args, cache_dir=cache_dir)
    assert out.returncode == 0, out.stderr[-3000:]
    summary = json_lines(out.stdout)[-1]
    assert summary["kind"] == "summary" and set(summary["outcomes"].values()) == {"resolved"}

    after = db_rows(runs, "SELECT * FROM attempts")
    keys = [(a["instance_id"], a["attempt"]) for a in after]
    assert len(keys) == len(set(keys)) == len(summary["outcomes"])  # one attempt each, none twice
    after_by_key = {(a["instance_id"], a["attempt"]): a for a in after}
    for key, row in finished_before.items():  # finished work was kept, not redone
        assert after_by_key[key]["finished_at"] == row["finished_at"]
        assert after_by_key[key]["started_at"] == row["started_at"]
    for key in in_flight_before:  # in-flight work was finished by the second process
        assert after_by_key[key]["status"] == "done" and after_by_key[key]["outcome"] == "resolved"
    evals = db_rows(runs, "SELECT instance_id, attempt, grade FROM evaluations")
    assert len(evals) == len({(e["instance_id"], e["attempt"], e["grade"]) for e in evals}) == len(after)

    lines = (runs / "kill-1" / "predictions.jsonl").read_text().splitlines()
    predictions = [(p["instance_id"], p["attempt"]) for p in map(json.loads, lines)]
    assert len(predictions) == len(set(predictions)) == len(after)

    restarted = [e for e in json_lines(out.stdout) if e["kind"] == "alert" and "restarted" in e["message"]]
    assert {(e["instance_id"], int(e["message"].split(" attempt ")[1].split()[0])) for e in restarted} == in_flight_before
    assert json_lines(out.stdout)[0]["resumed"] is True


def test_ctrl_c_exits_130_with_state_saved_and_resumes(tmp_path, cache_dir):
    runs = tmp_path / "runs"
    args = ["run", "--dataset", "bundled", "--agent", "gold", "--headless", "--json",
            "--runs-dir", str(runs), "--run-id", "int-1"]
    proc = ramp_popen(args, cache_dir=cache_dir)
    try:
        read_until(proc, lambda ev: sum(e["kind"] == "attempt_finished" for e in ev) >= 2)
        proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, stderr[-2000:]
    tail = json_lines(stdout)
    assert tail[-1]["kind"] == "summary" and tail[-1]["status"] == "interrupted"
    run = db_rows(runs, "SELECT status, exit_code FROM runs WHERE run_id = 'int-1'")[0]
    assert run == {"status": "interrupted", "exit_code": 130}
    assert not [p for p in os.listdir(cache_dir / "work" / "int-1")] if (cache_dir / "work" / "int-1").exists() else True

    out = ramp(args, cache_dir=cache_dir)
    assert out.returncode == 0, out.stderr[-2000:]
    assert set(json_lines(out.stdout)[-1]["outcomes"].values()) == {"resolved"}


def test_pause_resume_and_rerun_through_ctl(tmp_path, cache_dir):
    runs = tmp_path / "runs"
    run_args = ["run", "--dataset", "bundled", "--agent", "gold", "--headless", "--json",
                "--runs-dir", str(runs), "--run-id", "ctl-1"]
    proc = ramp_popen(run_args, cache_dir=cache_dir)
    try:
        read_until(proc, lambda ev: any(e["kind"] == "attempt_finished" for e in ev))
        assert ramp(["ctl", "ctl-1", "pause", "--runs-dir", str(runs)], cache_dir=cache_dir).returncode == 0
        read_until(proc, lambda ev: any(e["kind"] == "command" and e["command"] == "pause" for e in ev))
        # While paused, no new attempt starts (attempts in flight may finish).
        started_after_pause: list[str] = []
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if line.startswith("{"):
                e = json.loads(line)
                if e["kind"] == "state" and e["to_state"] == "preparing":
                    started_after_pause.append(e["instance_id"])
        assert started_after_pause == []
        assert db_rows(runs, "SELECT status FROM runs")[0]["status"] == "paused"
        done_iid = db_rows(runs, "SELECT instance_id FROM attempts WHERE status = 'done' LIMIT 1")[0]["instance_id"]
        assert ramp(["ctl", "ctl-1", "rerun", done_iid, "--runs-dir", str(runs)], cache_dir=cache_dir).returncode == 0
        assert ramp(["ctl", "ctl-1", "resume", "--runs-dir", str(runs)], cache_dir=cache_dir).returncode == 0
        stdout, stderr = proc.communicate(timeout=300)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, stderr[-2000:]
    assert json_lines(stdout)[-1]["status"] == "completed"
    attempts = db_rows(runs, "SELECT attempt, outcome FROM attempts WHERE instance_id = ?", (done_iid,))
    assert sorted((a["attempt"], a["outcome"]) for a in attempts) == [(1, "resolved"), (2, "resolved")]
    commands = db_rows(runs, "SELECT command, status FROM commands ORDER BY id")
    assert [c["command"] for c in commands] == ["pause", "rerun", "resume"]
    assert all(c["status"] == "done" for c in commands)


def test_stop_through_ctl_saves_state_and_the_run_resumes(tmp_path, cache_dir):
    runs = tmp_path / "runs"
    run_args = ["run", "--dataset", "bundled", "--agent", "gold", "--headless", "--json",
                "--runs-dir", str(runs), "--run-id", "stop-1"]
    proc = ramp_popen(run_args, cache_dir=cache_dir)
    try:
        read_until(proc, lambda ev: any(e["kind"] == "attempt_finished" for e in ev))
        assert ramp(["ctl", "stop-1", "stop", "--runs-dir", str(runs)], cache_dir=cache_dir).returncode == 0
        stdout, stderr = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, stderr[-2000:]
    summary = json_lines(stdout)[-1]
    assert summary["status"] == "stopped"
    unfinished = [iid for iid, outcome in summary["outcomes"].items() if outcome is None]
    assert unfinished
    out = ramp(run_args, cache_dir=cache_dir)
    assert out.returncode == 0, out.stderr[-2000:]
    assert set(json_lines(out.stdout)[-1]["outcomes"].values()) == {"resolved"}


def test_ctl_rejects_unknown_runs_and_missing_args(tmp_path, cache_dir):
    runs = tmp_path / "runs"
    runs.mkdir()
    out = ramp(["ctl", "nope", "pause", "--runs-dir", str(runs)], cache_dir=cache_dir)
    assert out.returncode == 2 and "no run 'nope'" in out.stderr
    out = ramp(["ctl", "nope", "rerun", "--runs-dir", str(runs)], cache_dir=cache_dir)
    assert out.returncode == 2 and "rerun needs an instance id" in out.stderr
