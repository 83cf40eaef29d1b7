"""Custom task suites: the file format and its errors, the seeded stratified held-out split, every
checker kind, and a suite run against two catalog models in one `ramp run` with a go/no-go table.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
import yaml

from engine.core.errors import DatasetError
from engine.datasets import resolve_dataset
from engine.datasets.suite import SuiteTask, split_of
from engine.models.base import CallContext, Message

from .runhelpers import db_rows, json_lines, ramp


def task(i: int, category: str, checker: dict, reference: str | None = None) -> dict:
    row = {"id": f"{category}-{i}", "category": category, "prompt": f"Task {i} for the {category}.",
           "checker": checker}
    return row | ({"reference": reference} if reference is not None else {})


TASKS = [
    task(0, "coder", {"type": "exact", "expected": "42"}, "42"),
    task(1, "coder", {"type": "regex", "pattern": r"\bdef \w+\("}, "def f(): pass"),
    task(2, "coder", {"type": "tests", "code": "ns = {}\nexec(answer, ns)\nassert ns['add'](2, 3) == 5"},
         "def add(a, b):\n    return a + b"),
    task(3, "coder", {"type": "exact", "expected": "YES", "ignore_case": True}, "yes"),
    task(4, "coder", {"type": "judge", "rubric": "The answer names a sorting algorithm."}, "merge sort"),
    task(0, "tester", {"type": "regex", "pattern": r"assert"}, "assert f() == 1"),
    task(1, "tester", {"type": "exact", "expected": "pytest"}, "pytest"),
    task(2, "tester", {"type": "tests", "code": "assert 'def test_' in answer"}, "def test_x(): pass"),
    task(3, "tester", {"type": "judge", "rubric": "The answer is a test name."}, "test_login"),
    task(4, "tester", {"type": "regex", "pattern": r"^\d+$"}, "17"),
]


@pytest.fixture
def suite_file(tmp_path: Path) -> Path:
    path = tmp_path / "suite.jsonl"
    path.write_text("".join(json.dumps(t) + "\n" for t in TASKS))
    return path


def test_the_held_out_split_is_seeded_stratified_and_independent_of_file_order(suite_file, tmp_path):
    tasks = [SuiteTask.model_validate(t) for t in TASKS]
    first = split_of(tasks, seed=7, share=0.2)
    shuffled = tasks[:]
    random.Random(1).shuffle(shuffled)
    assert split_of(shuffled, seed=7, share=0.2) == first
    held = sorted(i for i, side in first.items() if side == "heldout")
    assert len(held) == 2 and {i.split("-")[0] for i in held} == {"coder", "tester"}  # one per category
    assert any(split_of(tasks, seed=s, share=0.2) != first for s in range(8, 20))
    heldout = resolve_dataset(f"suite:{suite_file}", lock_path=None, cache_dir=tmp_path, split="heldout", seed=7)
    tune = resolve_dataset(f"suite:{suite_file}", lock_path=None, cache_dir=tmp_path, split="tune", seed=7)
    assert sorted(r.instance_id for r in heldout.rows) == held and len(tune.rows) == 8
    assert "held-out split (seed 7)" in heldout.source and heldout.family == "suite"


def test_malformed_tasks_are_named_by_line_and_field(tmp_path):
    path = tmp_path / "bad.jsonl"
    rows = [TASKS[0], {**TASKS[1], "checker": {"type": "regex", "pattern": "("}},
            {**TASKS[2], "checker": {"type": "vibes"}}, {k: v for k, v in TASKS[3].items() if k != "category"}]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    data = resolve_dataset(f"suite:{path}", lock_path=None, cache_dir=tmp_path)
    text = "\n".join(str(p) for p in data.problems)
    assert [r.instance_id for r in data.rows] == ["coder-0"]
    assert "line 2" in text and "not a regular expression" in text
    assert "line 3" in text and "checker" in text
    assert "line 4" in text and "field category" in text
    with pytest.raises(DatasetError, match="suite:PATH"):
        resolve_dataset("suite:", lock_path=None, cache_dir=tmp_path)


GOOD = {t["id"]: t["reference"] for t in TASKS}
#: The weaker model gets the two tester regex tasks and one coder task wrong.
BAD = GOOD | {"tester-0": "I would check it by hand", "tester-4": "seventeen", "coder-0": "41"}


def judge(messages: list[Message]) -> str:
    """The judge: passes the answers that meet the two rubrics."""
    answer = messages[-1].content.rsplit("Answer:\n", 1)[1]
    return "PASS: it does" if answer.strip() in ("merge sort", "test_login") else "FAIL: it does not"


def respond_good(messages: list[Message], context: CallContext) -> str:
    return judge(messages) if context.purpose == "judge" else GOOD[str(context.instance_id)]


def respond_weak(messages: list[Message], context: CallContext) -> str:
    return judge(messages) if context.purpose == "judge" else BAD[str(context.instance_id)]


def test_a_suite_runs_against_two_models_with_per_category_and_provider_tables(suite_file, tmp_path):
    catalog = {"models": {
        "strong": {"provider": "scripted", "local": True, "account": "lab-a",
                   "options": {"callable": f"{__name__}:respond_good", "delay_s": 0.01}},
        "weak": {"provider": "scripted", "local": True, "account": "lab-b",
                 "options": {"callable": f"{__name__}:respond_weak"}},
    }}
    (tmp_path / "models.yaml").write_text(yaml.safe_dump(catalog))
    config = {
        "paths": {"models_file": str(tmp_path / "models.yaml")},
        "ramp": {"phases": [], "gate": {"stop": ["resolved_rate >= 0.95", "latency_p50_s <= 8"],
                                        "caution": [], "excellent": []}},
    }
    (tmp_path / "suite.yaml").write_text(yaml.safe_dump(config))
    runs = tmp_path / "runs"
    args = ["run", "-c", str(tmp_path / "suite.yaml"), "--dataset", f"suite:{suite_file}", "--agent", "complete",
            "--model", "strong,weak", "--auto-approve", "--runs-dir", str(runs)]
    out = ramp([*args, "--run-id", "suite", "--headless"], cache_dir=tmp_path / "cache", timeout=600)
    assert out.returncode == 1, out.stderr[-3000:]  # the weak model's gate says NO-GO
    text = out.stdout
    assert "== model strong: run suite-strong" in text and "== model weak: run suite-weak" in text
    lines = text.splitlines()
    strong = next(line for line in lines if line.startswith("strong "))
    weak = next(line for line in lines if line.startswith("weak "))
    assert "lab-a" in strong and "10/10 100.0%" in strong and " GO (" in strong
    assert "lab-b" in weak and "7/10 70.0%" in weak and "NO-GO (STOP)" in weak
    assert any(line.split()[:1] == ["coder"] and "5/5 100.0% | 4/5 80.0%" in line for line in lines), text
    assert any(line.split()[:1] == ["tester"] and "5/5 100.0% | 3/5 60.0%" in line for line in lines), text
    assert any("lab-b" in line and "1 model(s), 7/10 70.0%" in line for line in lines), text
    judged = db_rows(runs, "SELECT run_id, COUNT(*) AS n FROM llm_calls WHERE attempt IS NOT NULL GROUP BY run_id")
    assert {r["run_id"]: r["n"] for r in judged} == {"suite-strong": 12, "suite-weak": 12}  # 10 answers + 2 judge calls
    # --json gives the same table as one last line.
    again = ramp([*args, "--run-id", "suite2", "--json"], cache_dir=tmp_path / "cache", timeout=600)
    table = json_lines(again.stdout)[-1]
    assert table["kind"] == "models" and [r["go"] for r in table["runs"]] == ["GO", "NO-GO"]
    assert table["per_provider"]["lab-b"]["resolved"] == 7


def test_gold_answers_pass_every_checker_but_a_judge_needs_a_model(suite_file, tmp_path):
    runs = tmp_path / "runs"
    out = ramp(["run", "--dataset", f"suite:{suite_file}", "--agent", "gold", "--headless", "--json", "--auto-approve",
                "--phases", "10", "--runs-dir", str(runs), "--run-id", "gold"], cache_dir=tmp_path / "cache")
    outcomes = json_lines(out.stdout)[-1]["outcomes"]
    judged = {"coder-4", "tester-3"}
    assert all(outcomes[i] == "resolved" for i in outcomes if i not in judged), outcomes
    assert all(outcomes[i] == "error" for i in judged), outcomes  # no model: infra, not a verdict
    rows = db_rows(runs, "SELECT error_class, detail FROM attempts WHERE instance_id = 'coder-4'")
    assert rows[-1]["error_class"] == "infra" and "needs a model" in rows[-1]["detail"]
