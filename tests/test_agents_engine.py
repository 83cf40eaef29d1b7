"""Both model agents through the real `ramp run`: scheduler, accounting, scripted provider, evaluator.

Each run mixes a task solved on the first try, one solved after feedback and one never solved, and
the assertions follow each attempt from the agent's exit status to the official verdict.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from .agenthelpers import shared_cache
from .runhelpers import db_rows, json_lines, ramp

pytestmark = pytest.mark.slow


def run(tmp_path: Path, agent: str, tasks: list[str]) -> tuple[Path, list[dict], dict[str, dict]]:
    runs = tmp_path / "runs"
    ids = ",".join(f"ramp-bundled__{t}-1" for t in tasks)
    out = ramp(["run", "-c", "config/demo.yaml", "--agent", agent, "--instances", ids, "--phases", str(len(tasks)),
                "--run-id", f"{agent}-engine", "--headless", "--json", "--runs-dir", str(runs)],
               cache_dir=shared_cache())
    assert out.returncode == 0, out.stderr[-3000:]
    attempts = {row["instance_id"].split("__")[1][:-2]: row
                for row in db_rows(runs, "SELECT * FROM attempts WHERE run_id = ?", (f"{agent}-engine",))}
    return runs, json_lines(out.stdout), attempts


def trajectory(row: dict) -> dict:
    return json.loads(Path(row["trajectory_path"]).read_text())


def test_direct_edit_first_try_after_feedback_and_never(tmp_path):
    runs, events, attempts = run(tmp_path, "direct-edit", ["romans", "iniparse", "semverkit", "slugkit"])
    outcomes = {iid.split("__")[1][:-2]: o for iid, o in events[-1]["outcomes"].items()}
    assert outcomes == {"romans": "resolved", "iniparse": "resolved", "semverkit": "unresolved",
                        "slugkit": "unresolved"}
    assert {t: (a["exit_status"], a["error_class"]) for t, a in attempts.items()} == {
        "romans": ("submitted", None), "iniparse": ("submitted", None),
        "semverkit": ("stuck", None), "slugkit": ("error", "model_format"),
    }
    assert {t: a["calls"] for t, a in attempts.items()} == {"romans": 2, "iniparse": 3, "semverkit": 2, "slugkit": 3}
    assert all(a["cost_usd"] == 0 and a["input_tokens"] > 0 for a in attempts.values())
    assert trajectory(attempts["iniparse"])["result"]["detail"] == "round 2: 6 passed"

    # Sub-states reach the store and the JSON stream as agent_step events.
    seen = {e["sub_state"] for e in events if e["kind"] == "agent_step"}
    assert {"localize", "read", "edit", "test", "judge", "submit"} <= seen
    # Every model call went through the accounting: one llm_calls row and one event each.
    calls = db_rows(runs, "SELECT * FROM llm_calls WHERE run_id = 'direct-edit-engine'")
    assert len(calls) == sum(a["calls"] for a in attempts.values())
    assert {c["model_id"] for c in calls} == {"scripted-demo"} and all(c["cost_usd"] == 0 for c in calls)
    assert len([e for e in events if e["kind"] == "llm_call"]) == len(calls)


def test_bash_first_try_after_feedback_and_never(tmp_path):
    _, events, attempts = run(tmp_path, "bash", ["daterange", "wraptext", "slugkit"])
    outcomes = {iid.split("__")[1][:-2]: o for iid, o in events[-1]["outcomes"].items()}
    assert outcomes == {"daterange": "resolved", "wraptext": "resolved", "slugkit": "unresolved"}
    assert all(a["exit_status"] == "submitted" for a in attempts.values())
    steps = trajectory(attempts["wraptext"])["steps"]
    assert "FAILED tests/test_wrap.py::test_wraps_at_spaces" in steps[1]["observation"]
    assert steps[-1]["summary"] == "submitted"
    seen = {e["sub_state"] for e in events if e["kind"] == "agent_step"}
    assert {"think", "act", "submit"} <= seen


def test_an_attempt_budget_ends_the_attempt_not_the_run(tmp_path):
    runs = tmp_path / "runs"
    ids = "ramp-bundled__romans-1,ramp-bundled__iniparse-1"
    out = ramp(["run", "-c", "config/demo.yaml", "--instances", ids, "--phases", "2", "--run-id", "steps-1",
                "--headless", "--json", "--runs-dir", str(runs)],
               cache_dir=shared_cache(), RAMP_RUN__BUDGETS__MAX_STEPS="1")
    assert out.returncode == 0, out.stderr[-3000:]
    summary = json_lines(out.stdout)[-1]
    assert summary["status"] == "completed"
    # The patch so far is graded and scored: romans' first edit is the fix (its judge call never
    # happened), iniparse's first edit is not.
    assert summary["outcomes"] == {"ramp-bundled__romans-1": "resolved", "ramp-bundled__iniparse-1": "unresolved"}
    attempts = db_rows(runs, "SELECT exit_status, error_class, calls FROM attempts WHERE run_id = 'steps-1'")
    assert [(a["exit_status"], a["error_class"], a["calls"]) for a in attempts] == [("budget_exhausted", None, 1)] * 2
