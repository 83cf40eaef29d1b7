"""`ramp run` end to end on the bundled tasks: real git repos, real venvs, real pytest, real grading."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys

import pytest

from .runhelpers import ROOT, db_rows, json_lines, ramp

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("cache")


def test_gold_resolves_every_bundled_instance(tmp_path, cache_dir):
    runs = tmp_path / "runs"
    out = ramp(["run", "--dataset", "bundled", "--agent", "gold", "--headless", "--json",
                "--runs-dir", str(runs), "--run-id", "gold-1"], cache_dir=cache_dir)
    assert out.returncode == 0, out.stderr[-3000:]
    events = json_lines(out.stdout)
    summary = events[-1]
    assert summary["kind"] == "summary" and summary["status"] == "completed"
    assert len(summary["outcomes"]) >= 12
    assert set(summary["outcomes"].values()) == {"resolved"}, summary["outcomes"]
    kinds = {e["kind"] for e in events}
    assert {"run_started", "state", "evaluation", "attempt_finished", "run_finished"} <= kinds

    # Evaluations say what they are doing: the repository fetch, the environment build's steps
    # (this module's cache starts empty), a wait for another attempt's build, the tests.
    steps = [(e["instance_id"], e["sub_state"]) for e in events if e["kind"] == "agent_step"]
    assert {"fetch", "env venv", "tests"} <= {s for _, s in steps}, steps
    assert {i for i, s in steps if s == "tests"} == set(summary["outcomes"])

    # Every transition is an event, in the DESIGN.md order.
    some = next(iter(summary["outcomes"]))
    path = [e["to_state"] for e in events if e["kind"] == "state" and e["instance_id"] == some]
    assert path == ["preparing", "agent", "patched", "eval_queued", "evaluating", "resolved"]

    # The store agrees, test by test.
    evals = db_rows(runs, "SELECT * FROM evaluations WHERE run_id = 'gold-1'")
    assert len(evals) == len(summary["outcomes"])
    for row in evals:
        f2p = json.loads(row["f2p_json"])
        assert f2p["failure"] == [] and f2p["success"]
        statuses = json.loads(row["tests_json"])
        assert all(statuses[t] == "PASSED" for t in f2p["success"])

    folder = runs / "gold-1"
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["dataset"]["spec"] == "bundled" and manifest["versions"]["swebench"] == "4.1.0"
    predictions = [json.loads(line) for line in (folder / "predictions.jsonl").read_text().splitlines()]
    assert len(predictions) == len(summary["outcomes"])
    assert {"instance_id", "model_name_or_path", "model_patch"} <= set(predictions[0])
    assert all(p["model_patch"].startswith("diff --git") for p in predictions)
    for p in predictions:
        attempt_dir = folder / "attempts" / f"{p['instance_id']}.1"
        assert (attempt_dir / "patch.diff").read_text() == p["model_patch"]
        assert "Start Test Output" in (attempt_dir / "test_output.txt").read_text() if (
            attempt_dir / "test_output.txt").exists() else True


def test_empty_resolves_nothing(tmp_path, cache_dir):
    runs = tmp_path / "runs"
    out = ramp(["run", "--dataset", "bundled", "--agent", "empty", "--headless", "--json",
                "--runs-dir", str(runs), "--run-id", "empty-1"], cache_dir=cache_dir)
    events = json_lines(out.stdout)
    summary = events[-1]
    assert summary["kind"] == "summary", out.stderr[-2000:]
    assert len(summary["outcomes"]) >= 12
    assert set(summary["outcomes"].values()) == {"unresolved"}
    path = [e["to_state"] for e in events if e["kind"] == "state" and e["instance_id"] == next(iter(summary["outcomes"]))]
    assert path == ["preparing", "agent", "no_patch", "eval_queued", "evaluating", "unresolved"]
    # The baseline still ran every test: PASS_TO_PASS green, FAIL_TO_PASS red.
    for row in db_rows(runs, "SELECT * FROM evaluations WHERE run_id = 'empty-1'"):
        assert json.loads(row["f2p_json"])["success"] == []
        assert json.loads(row["p2p_json"])["failure"] == []


def test_plain_output_and_status(tmp_path, cache_dir):
    runs = tmp_path / "runs"
    out = ramp(["run", "--dataset", "bundled", "--agent", "gold", "--headless", "--limit", "3",
                "--phases", "2,5", "--auto-approve", "--runs-dir", str(runs), "--run-id", "plain-1"],
               cache_dir=cache_dir)  # fmt: skip
    assert out.returncode == 0, out.stderr[-2000:]
    assert "3/3 resolved" in out.stdout
    # A phase larger than the selection is clipped, and the operator is told.
    assert "phases [2, 5] asked for 5 instances but 3 were selected: the plan is [2, 3]" in out.stdout
    status = ramp(["status", "plain-1", "--json", "--runs-dir", str(runs)], cache_dir=cache_dir)
    data = json.loads(status.stdout)
    assert data["status"] == "completed" and data["metrics"]["resolved"] == 3


def readme_run_command() -> list[str]:
    """The run command README.md gives a newcomer: the first line of its "## Run" block."""
    text = (ROOT / "README.md").read_text()
    block = text.split("## Run", 1)[1].split("```sh", 1)[1].split("```", 1)[0]
    return shlex.split(block.strip().splitlines()[0])


def test_readme_run_command_as_a_newcomer_types_it(tmp_path):
    """No --runs-dir, no cache override: runs/ and runs/.cache are relative to where it starts.
    Build steps run in their own folders, so relative paths must not leak into them."""
    args = readme_run_command()
    assert args[0] == "ramp" and "--json" in args
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAMP_")}
    out = subprocess.run(
        [sys.executable, "-c", "import sys; from tui.cli import main; sys.exit(main())", *args[1:]],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600,
    )
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    summary = json_lines(out.stdout)[-1]
    assert summary["kind"] == "summary" and summary["status"] == "completed"
    assert set(summary["outcomes"].values()) == {"resolved"} and len(summary["outcomes"]) >= 12
    assert (tmp_path / "runs" / "ramp.sqlite").exists() and (tmp_path / "runs" / ".cache" / "envs").is_dir()
