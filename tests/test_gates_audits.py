"""The audits a gate runs through the evaluator: flakiness re-grades and bug reproduction.

The evaluator here is a stand-in that records every request, so the tests can check what the audit
asked for (which patch, which tests) and how it recorded the answers.
"""

from __future__ import annotations

import json

import pytest

from engine.core.events import Alert
from engine.core.feedback import FeedbackConfig, RegradeConfig
from engine.evaluators import base as evaluation
from engine.evaluators.local import LocalEvaluator, LocalEvaluatorConfig
from engine.results.metrics import run_metrics
from engine.run.audits import run_audits
from engine.store import Store
from tests.evalhelpers import REPO, diff_of, git, make_calc_repo
from tests.rampfill import attempt, make_run
from tests.runcontext import Harness, instance

SOURCE = "diff --git a/src/calc/__init__.py b/src/calc/__init__.py\n--- a/src/calc/__init__.py\n+++ b/src/calc/__init__.py\n@@ -1 +1 @@\n-a - b\n+a + b\n"
TESTS = "diff --git a/tests/test_add.py b/tests/test_add.py\nnew file mode 100644\n--- /dev/null\n+++ b/tests/test_add.py\n@@ -0,0 +1 @@\n+def test_add(): ...\n"


class RecordingEvaluator:
    name = "recording"

    def __init__(self, regrade_resolved: bool):
        self.requests = []
        self.regrade_resolved = regrade_resolved

    async def evaluate(self, request):
        self.requests.append(request)
        if request.instance.instance_id.endswith("__ramp-repro"):
            status = "PASSED" if request.patch else "FAILED"
            return evaluation.EvalResult(resolved=True, applied=True, tests={"tests/test_add.py::test_add": status})
        return evaluation.EvalResult(
            resolved=self.regrade_resolved, applied=True, fail_to_pass=evaluation.TestGroup(success=["t"])
        )


def Scheduler(store, tmp_path, evaluator, instances=None) -> Harness:  # noqa: N802 - the name the tests use
    """What the audits are handed: a real run context over the store, with this evaluator."""
    row = {"FAIL_TO_PASS": ["tests/test_calc.py::test_add"]}
    return Harness(store, tmp_path, evaluator=evaluator, phases=[2],
                   instances=instances or [instance(iid, REPO, **row) for iid in ("a", "b")])


@pytest.fixture
async def store(tmp_path):
    async with Store(tmp_path / "ramp.sqlite") as s:
        yield s


async def test_regrade_that_disagrees_is_recorded_as_eval_flaky(store, tmp_path):
    await make_run(store, "r", [("a", REPO, 0), ("b", REPO, 0)])
    await attempt(store, "r", "a", 1, "resolved", patch=SOURCE, folder=tmp_path)
    await attempt(store, "r", "b", 1, "unresolved", patch=SOURCE, folder=tmp_path)
    sched = Scheduler(store, tmp_path, RecordingEvaluator(regrade_resolved=False))
    await run_audits(sched.ctx, 0, FeedbackConfig(), RegradeConfig(resolved=1.0, unresolved=0.0))
    assert [r.instance.instance_id for r in sched.evaluator.requests] == ["a"]   # only the resolved share
    assert sched.evaluator.requests[0].patch == SOURCE and sched.slots == 1     # through the governor
    regrade = [e for e in await store.evaluations("r") if e["grade"] == 1]
    assert len(regrade) == 1 and regrade[0]["error_class"] == "eval_flaky"
    assert "official grade said resolved" in regrade[0]["detail"]
    assert any(isinstance(e, Alert) and "eval_flaky" in e.message for e in sched.events)
    m = await run_metrics(store, "r")
    assert (m["regraded"], m["flaky_evals"]) == (1, 1)
    await run_audits(sched.ctx, 0, FeedbackConfig(), RegradeConfig(resolved=1.0, unresolved=0.0))
    assert len(sched.evaluator.requests) == 1                                   # never re-graded twice


async def test_agreeing_regrade_is_not_flaky(store, tmp_path):
    await make_run(store, "r", [("a", REPO, 0)])
    await attempt(store, "r", "a", 1, "resolved", patch=SOURCE, folder=tmp_path)
    sched = Scheduler(store, tmp_path, RecordingEvaluator(regrade_resolved=True))
    await run_audits(sched.ctx, 0, FeedbackConfig(), RegradeConfig(resolved=1.0))
    m = await run_metrics(store, "r")
    assert (m["regraded"], m["flaky_evals"], m["flaky_rate"]) == (1, 0, 0.0)


async def test_bug_reproduction_runs_the_agents_tests_before_and_after_its_fix(store, tmp_path):
    await make_run(store, "r", [("a", REPO, 0), ("b", REPO, 0)], ramp={"feedback": {"bug_reproduction": True}})
    await attempt(store, "r", "a", 1, "resolved", patch=SOURCE + TESTS, folder=tmp_path)
    await attempt(store, "r", "b", 1, "resolved", patch=SOURCE, folder=tmp_path)   # wrote no test
    sched = Scheduler(store, tmp_path, RecordingEvaluator(regrade_resolved=True))
    await run_audits(sched.ctx, 0, FeedbackConfig(bug_reproduction=True), RegradeConfig())
    base, fix = sched.evaluator.requests
    assert base.instance.test_patch == TESTS and base.patch == ""
    assert fix.instance.test_patch == TESTS and fix.patch == SOURCE
    assert base.instance.FAIL_TO_PASS == [] and base.instance.instance_id == "a__ramp-repro"
    grades = sorted(e["grade"] for e in await store.evaluations("r", "a"))
    assert grades == [0, 2, 3]
    m = await run_metrics(store, "r")
    assert m["tests_written"] == 1 and m["bug_reproduction_rate"] == 0.5


@pytest.mark.slow
async def test_bug_reproduction_with_the_real_local_evaluator(store, tmp_path):
    """The agent's new test file fails on the base commit and passes with its fix, for real."""
    calc = make_calc_repo(tmp_path / "calc")
    work = tmp_path / "calc" / "agent"
    git(tmp_path / "calc", "clone", "-q", str(tmp_path / "calc" / "work"), str(work))
    new_test = "from calc import add\n\n\ndef test_add_reproduces():\n    assert add(2, 3) == 5\n"
    patch = calc.gold + diff_of(work, {"tests/test_repro.py": new_test})
    await make_run(store, "r", [("a", REPO, 0)], ramp={"feedback": {"bug_reproduction": True}})
    await attempt(store, "r", "a", 1, "resolved", patch=patch, folder=tmp_path)
    sched = Scheduler(store, tmp_path, LocalEvaluator(LocalEvaluatorConfig(), cache_dir=tmp_path / "cache",
                                                      repo_source=calc.source), instances=[calc.instance(instance_id="a")])
    await run_audits(sched.ctx, 0, FeedbackConfig(bug_reproduction=True), RegradeConfig())
    rows = {e["grade"]: e for e in await store.evaluations("r", "a")}
    assert json.loads(rows[2]["tests_json"])["tests/test_repro.py::test_add_reproduces"] == "FAILED"
    assert json.loads(rows[3]["tests_json"])["tests/test_repro.py::test_add_reproduces"] == "PASSED"
    assert (await run_metrics(store, "r"))["bug_reproduction_rate"] == 1.0
