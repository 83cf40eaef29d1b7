"""The chaos suite, short version (``python benchmarks/chaos.py`` is the long one, with figures).

- SIGKILLs of a real `ramp run` at named moments, found by polling its store, and at random times;
  after the resume, nothing is lost or duplicated, every gate has its verdict, and every attempt
  ends with the outcome and error class a clean run gives.
- A provider failing 30% of its requests (429, 5xx, hangs, drops, cut streams and bodies, empty
  replies): not one fault is scored against the model, and every request is one llm_calls row.
- A planted secret, long and short, written by the agent into the repository: none on disk after a
  kill inside the agent or inside the evaluation, nor after the resume.
"""

from __future__ import annotations

import pytest

from .chaos import (
    DEMO_FOUR,
    RunRecord,
    demo_args,
    fault_matrix,
    finish,
    kill_and_resume,
    kill_at,
    query,
    secret_hits,
    secret_setup,
    start,
)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("cache")


@pytest.fixture(scope="module")
def reference(tmp_path_factory, cache_dir) -> RunRecord:
    runs = tmp_path_factory.mktemp("reference") / "runs"
    out = finish(demo_args(runs, "chaos"), cache_dir)
    assert out.returncode == 0, out.stderr[-2000:]
    record = RunRecord.read(runs, "chaos")
    assert ("unresolved", "model_format") in {(o, e) for _, o, e in record.attempts.values()}  # slugkit
    assert len(record.tiers) == 2
    return record


@pytest.mark.parametrize("moment", [
    "run-created", "agent-done", "evaluating", "attempt-done", "gate-judged", "phase-2-started",
])
def test_a_kill_at_a_named_moment_loses_nothing(tmp_path, cache_dir, reference, moment):
    runs = tmp_path / "runs"
    report = kill_and_resume(moment, demo_args(runs, "chaos"), runs, "chaos", cache_dir, reference, kills=[moment])
    assert report.resumes == 1, f"the run ended before {moment}"
    assert report.problems == []


def test_random_kills_then_resume_lose_nothing(tmp_path, cache_dir, reference):
    runs = tmp_path / "runs"
    report = kill_and_resume("random", demo_args(runs, "chaos"), runs, "chaos", cache_dir, reference,
                             kills=[1.5, 2.5, 0.8])
    assert report.resumes >= 2 and report.problems == []


def test_no_provider_fault_is_scored_against_the_model(tmp_path, cache_dir):
    report = fault_matrix(tmp_path / "runs", cache_dir, tmp_path, rate=0.3, instances=DEMO_FOUR, attempts=2, seed=7)
    assert sum(report.injected.values()) >= 3, report
    assert report.scored_provider_faults == 0, report
    assert report.requests == report.recorded_calls, report
    assert report.attempts == 8


def test_a_planted_secret_is_on_disk_nowhere_after_kills(tmp_path, cache_dir):
    config, secrets = secret_setup(tmp_path)
    runs = tmp_path / "runs"
    args = ["run", "-c", str(config), "--headless", "--json", "--runs-dir", str(runs), "--run-id", "leak"]
    db = runs / "ramp.sqlite"
    scratch = [cache_dir / "work", cache_dir / "worktrees"]
    for moment in ("SELECT 1 WHERE (SELECT COUNT(*) FROM llm_calls) >= 2",  # the agent sleeps; its file holds both
                   "SELECT 1 FROM instances WHERE state = 'evaluating'"):  # the tests sleep
        proc = start(args, cache_dir)
        try:
            assert kill_at(proc, db, moment, timeout=120) is not None, "the run ended before the kill"
        finally:
            if proc.poll() is None:
                proc.kill()
            if proc.stderr:
                proc.stderr.close()
        assert secret_hits([runs], secrets) == []  # redacted before it touched the run folder
    out = finish(args, cache_dir)
    assert out.returncode == 0, out.stderr[-2000:]
    assert secret_hits([runs, *scratch], secrets) == []  # and the killed checkouts were swept
    patch = (runs / "leak" / "attempts" / "ramp-bundled__romans-1.1" / "patch.diff").read_text()
    assert patch.count("[REDACTED]") == 2
    assert query(db, "SELECT outcome FROM attempts") == [{"outcome": "unresolved"}]
