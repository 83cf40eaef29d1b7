"""What a kill at a badly chosen moment used to leave behind, and what a resume makes of it.

Each test finishes a real `ramp run` on bundled tasks, then puts the store into the state a SIGKILL
at one precise moment left it in under the old, non-atomic writes (a run row without its instances
and phases; a finished attempt under an instance still evaluating; an attempt whose agent finished
with a recorded error class; model calls made before a crash), and resumes it with the same command.
The writes are atomic now, so these states can no longer arise; the tests check that a store that
holds one (written by an older Ramp) is still resumed correctly. tests/test_chaos.py kills for real.
"""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import pytest

from .runhelpers import db_rows, json_lines, ramp

pytestmark = pytest.mark.slow

INSTANCES = "ramp-bundled__romans-1,ramp-bundled__iniparse-1,ramp-bundled__slugkit-1"
DEAD_PID = 2**22 + 17  # above pid_max's default: no live process has it


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("cache")


def run_args(runs: Path, agent: str, run_id: str) -> list[str]:
    return ["run", "--dataset", "bundled", "--instances", INSTANCES, "--agent", agent, "--headless", "--json",
            "--runs-dir", str(runs), "--run-id", run_id]


@pytest.fixture(scope="module")
def finished(tmp_path_factory, cache_dir):
    """Finished runs to copy and damage: gold (resolves) and empty (a gate STOP, exit 1)."""
    runs = tmp_path_factory.mktemp("finished") / "runs"
    assert ramp(run_args(runs, "gold", "gold-1"), cache_dir=cache_dir).returncode == 0
    assert ramp(run_args(runs, "empty", "empty-1"), cache_dir=cache_dir).returncode == 1
    return runs


def damaged(finished: Path, tmp_path: Path, *statements: str) -> Path:
    runs = tmp_path / "runs"
    shutil.copytree(finished, runs)
    conn = sqlite3.connect(runs / "ramp.sqlite")
    with conn:
        conn.execute("UPDATE runs SET status = 'running', exit_code = NULL, pid = ?", (DEAD_PID,))
        for sql in statements:
            conn.execute(sql)
    conn.close()
    return runs


def test_a_run_row_without_instances_or_phases_is_resumed_with_its_gates(finished, tmp_path, cache_dir):
    # Old code wrote the run row, the instances and the phases in three transactions; a kill after
    # the first left this, and the resume ran nothing and judged nothing: `completed`, exit 0.
    runs = damaged(finished, tmp_path, *(
        f"DELETE FROM {table} WHERE run_id = 'empty-1'"
        for table in ("instances", "phases", "attempts", "evaluations", "events")
    ))
    out = ramp(run_args(runs, "empty", "empty-1"), cache_dir=cache_dir)
    assert out.returncode == 1, out.stderr[-2000:]
    summary = json_lines(out.stdout)[-1]
    assert summary["status"] == "gate_stop" and len(summary["outcomes"]) == 3
    assert [p["tier"] for p in db_rows(runs, "SELECT tier FROM phases WHERE run_id = 'empty-1'")] == ["STOP"]
    assert len(db_rows(runs, "SELECT * FROM instances WHERE run_id = 'empty-1'")) == 3


def test_a_finished_attempt_under_an_unfinished_instance_is_settled_not_left_queued(finished, tmp_path, cache_dir):
    # A kill after the attempt row said done and before the instance row was updated: the resume
    # announced a re-run, ran nothing (the attempt was done) and left the instance `queued`.
    runs = damaged(finished, tmp_path, (
        "UPDATE instances SET state = 'evaluating', outcome = NULL"
        " WHERE run_id = 'gold-1' AND instance_id = 'ramp-bundled__romans-1'"
    ))
    out = ramp(run_args(runs, "gold", "gold-1"), cache_dir=cache_dir)
    assert out.returncode == 0, out.stderr[-2000:]
    rows = {r["instance_id"]: r for r in db_rows(runs, "SELECT * FROM instances WHERE run_id = 'gold-1'")}
    assert {(r["state"], r["outcome"]) for r in rows.values()} == {("resolved", "resolved")}
    assert not [e for e in json_lines(out.stdout) if e["kind"] == "alert" and "re-run" in e["message"]]
    assert len(db_rows(runs, "SELECT * FROM attempts WHERE run_id = 'gold-1'")) == 3


def test_resume_keeps_the_agents_error_class_and_time_when_it_regrades_a_saved_patch(finished, tmp_path, cache_dir):
    # The agent finished (recording model_format after 12.5 s) and the process died in evaluation.
    where = "run_id = 'gold-1' AND instance_id = 'ramp-bundled__iniparse-1'"
    runs = damaged(
        finished, tmp_path,
        f"UPDATE attempts SET status = 'agent_done', outcome = NULL, error_class = 'model_format',"
        f" agent_s = 12.5, finished_at = NULL WHERE {where}",
        f"DELETE FROM evaluations WHERE {where}",
        f"UPDATE instances SET state = 'evaluating', outcome = NULL WHERE {where}",
    )
    out = ramp(run_args(runs, "gold", "gold-1"), cache_dir=cache_dir)
    assert out.returncode == 0, out.stderr[-2000:]
    row = db_rows(runs, f"SELECT * FROM attempts WHERE {where}")[0]
    assert (row["status"], row["outcome"], row["error_class"], row["agent_s"]) == ("done", "resolved", "model_format", 12.5)
    finished_event = [e for e in json_lines(out.stdout) if e["kind"] == "attempt_finished"]
    assert [(e["error_class"], e["agent_s"]) for e in finished_event] == [("model_format", 12.5)]


def test_an_attempt_rerun_from_the_start_keeps_the_model_calls_it_already_paid_for(finished, tmp_path, cache_dir):
    # Two calls were made (and recorded) before the kill; the re-run must not count from zero.
    where = "run_id = 'gold-1' AND instance_id = 'ramp-bundled__slugkit-1'"
    runs = damaged(
        finished, tmp_path,
        f"UPDATE attempts SET status = 'running', outcome = NULL, finished_at = NULL WHERE {where}",
        f"DELETE FROM evaluations WHERE {where}",
        f"UPDATE instances SET state = 'agent', outcome = NULL WHERE {where}",
        *(
            "INSERT INTO llm_calls (run_id, instance_id, attempt, ts, day, model_id, provider, input_tokens,"
            f" output_tokens, cost_usd, status) VALUES ('gold-1', 'ramp-bundled__slugkit-1', 1, 0, 'd', 'm', 'p',"
            f" {tokens}, 10, 0.25, 'ok')"
            for tokens in (100, 200)
        ),
    )
    out = ramp(run_args(runs, "gold", "gold-1"), cache_dir=cache_dir)
    assert out.returncode == 0, out.stderr[-2000:]
    row = db_rows(runs, f"SELECT * FROM attempts WHERE {where}")[0]
    assert (row["status"], row["calls"], row["input_tokens"], row["output_tokens"], row["cost_usd"]) == (
        "done", 2, 300, 20, 0.5
    )
