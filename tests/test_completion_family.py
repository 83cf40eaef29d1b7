"""The function-completion family through the same engine: loaders, the grader under hostile
candidates, the output checks, and whole runs (``ramp run --dataset humaneval``, and the
``complete`` agent against the scripted model answering with broken, looping and greedy code).
"""

from __future__ import annotations

import io
import json
import os
import time
from pathlib import Path

import psutil
import pytest
import yaml

from engine.core.config import load_settings
from engine.core.errors import ConfigError, DatasetError
from engine.core.outputchecks import degenerate_rule, syntax_error
from engine.datasets import resolve_dataset
from engine.datasets.completion import CompletionProblem
from engine.evaluators.base import EvalRequest
from engine.evaluators.completion import CompletionGrader, CompletionGraderConfig
from engine.models.base import CallContext, Message
from engine.results.runfeed import RunFeed
from engine.run.display import JsonLinesDisplay
from engine.run.runner import execute_run
from engine.store import Store
from tui.app import RampApp
from tui.glyphs import ASCII
from tui.widgets.panels import CountersBar

from .runhelpers import db_rows, json_lines, ramp
from .tuihelpers import wait_for


def problem(task_id: str, name: str, body: str, test: str, category: str = "") -> dict:
    row = {
        "task_id": task_id,
        "prompt": f"def {name}(x):\n    \"\"\"Compute {name} of x.\"\"\"\n",
        "entry_point": name,
        "canonical_solution": body,
        "test": f"def check(candidate):\n{test}\n",
    }
    return row | ({"category": category} if category else {})


PROBLEMS = [
    problem("Toy/0", "double", "    return 2 * x\n", "    assert candidate(2) == 4\n    assert candidate(0) == 0", "math"),
    problem("Toy/1", "square", "    return x * x\n", "    assert candidate(3) == 9", "math"),
    problem("Toy/2", "shout", "    return x.upper() + '!'\n", "    assert candidate('hi') == 'HI!'", "text"),
    problem("Toy/3", "words", "    return len(x.split())\n", "    assert candidate('a b c') == 3", "text"),
    problem("Toy/4", "halve", "    return x // 2\n", "    assert candidate(9) == 4", "math"),
    problem("Toy/5", "rev", "    return x[::-1]\n", "    assert candidate('abc') == 'cba'", "text"),
]


@pytest.fixture
def toy_file(tmp_path: Path) -> Path:
    path = tmp_path / "toy.jsonl"
    path.write_text("".join(json.dumps(row) + "\n" for row in PROBLEMS))
    return path


# -- loaders -------------------------------------------------------------------------------------

def test_humaneval_ships_with_the_package_and_loads_offline(tmp_path):
    data = resolve_dataset("humaneval", lock_path=None, cache_dir=tmp_path)
    assert data.family == "completion" and len(data.rows) == 164 and not data.problems
    first = data.rows[0]
    assert isinstance(first, CompletionProblem)
    assert first.instance_id == "HumanEval__0" and first.task_id == "HumanEval/0"
    assert first.FAIL_TO_PASS == ["check(has_close_elements)"] and first.prefix == first.prompt


def test_a_jsonl_of_problems_is_read_as_completion_problems_with_categories(toy_file, tmp_path):
    data = resolve_dataset(str(toy_file), lock_path=None, cache_dir=tmp_path)
    assert data.family == "completion"
    assert [r.repo for r in data.rows] == ["math", "math", "text", "text", "math", "text"]
    again = resolve_dataset(f"humaneval:{toy_file}", lock_path=None, cache_dir=tmp_path)
    assert again.sha256 == data.sha256


def test_mbpp_original_and_sanitized_formats(tmp_path):
    original = tmp_path / "mbpp.jsonl"
    original.write_text(json.dumps({
        "task_id": 11, "text": "Write a function to add one.", "code": "def add_one(n):\n    return n + 1",
        "test_list": ["assert add_one(1) == 2", "assert add_one(-1) == 0"], "test_setup_code": "",
        "challenge_test_list": [],
    }) + "\n")
    sanitized = tmp_path / "sanitized-mbpp.json"
    sanitized.write_text(json.dumps([{
        "task_id": 12, "prompt": "Write a function to sum a list.", "code": "import math\ndef total(xs):\n    return sum(xs)",
        "test_imports": ["import math"], "test_list": ["assert total([1, 2]) == 3"],
    }]))
    a = resolve_dataset(f"mbpp:{original}", lock_path=None, cache_dir=tmp_path).rows[0]
    b = resolve_dataset(f"mbpp:{sanitized}", lock_path=None, cache_dir=tmp_path).rows[0]
    assert isinstance(a, CompletionProblem) and isinstance(b, CompletionProblem)
    assert (a.instance_id, a.entry_point, a.prefix) == ("MBPP__11", "add_one", "")
    assert "Your code should pass these tests" in a.prompt and "assert add_one(1) == 2" in a.prompt
    assert (b.entry_point, b.prefix) == ("total", "import math\n")
    with pytest.raises(DatasetError, match="mbpp:PATH"):
        resolve_dataset("mbpp", lock_path=None, cache_dir=tmp_path)


def test_malformed_problems_name_the_file_line_and_field(tmp_path):
    path = tmp_path / "bad.jsonl"
    rows = [PROBLEMS[0], {**PROBLEMS[1], "entry_point": "not a name"}, {**PROBLEMS[2], "test": "def check(:"}]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    data = resolve_dataset(f"humaneval:{path}", lock_path=None, cache_dir=tmp_path)
    assert [r.instance_id for r in data.rows] == ["Toy__0"]
    text = [str(p) for p in data.problems]
    assert any("line 2" in t and "field entry_point" in t for t in text), text
    assert any("line 3" in t and "test is not valid Python" in t for t in text), text
    with pytest.raises(DatasetError, match="line 2"):
        resolve_dataset(f"humaneval:{path}", lock_path=None, cache_dir=tmp_path, on_malformed="refuse")


# -- output checks -------------------------------------------------------------------------------

@pytest.mark.parametrize(("completion", "rule"), [
    ("", "empty"),
    ("   \n", "empty"),
    ("    return return x\n", "repeated_keyword"),
    ("def def f():\n    pass\n", "repeated_keyword"),
    ("    x = x + 1\n" * 4, "repeated_line"),
    ("    return sorted(l)[::-1] " * 6, "repeated_ngrams"),
    ("    return 2 * x\n", None),
    ("    s = 'return return'  # return return\n    return s\n", None),
    ("        )\n    )\n)\n)\n    return x\n", None),
])
def test_degenerate_rules(completion, rule):
    assert degenerate_rule(completion) == rule


def test_syntax_error_says_where():
    assert syntax_error("def f(:\n").startswith("line 1:")
    assert syntax_error("def f():\n    return 1\n") is None
    assert syntax_error("x = 1\0\n") is not None  # a null byte: ValueError or SyntaxError, never a crash


# -- the grader under hostile candidates ---------------------------------------------------------

HOSTILE = {
    "loops forever": "    while True:\n        pass\n",
    "allocates without bound": "    xs = []\n    while True:\n        xs.append(' ' * 10**7)\n",
    "forks without end": "    import os\n    while True:\n        os.fork()\n",
    "exits early with success": "    import sys\n    sys.exit(0)\n",
    "leaves the process with success": "    import os\n    os._exit(0)\n",
    "uses the network": "    import socket\n    socket.create_connection(('127.0.0.1', 9))\n    return 2 * x\n",
    "crashes the interpreter": "    import ctypes\n    ctypes.string_at(0)\n",
    "prints without end": "    while True:\n        print('spam' * 1000)\n",
}


@pytest.mark.parametrize("behaviour", sorted(HOSTILE))
async def test_a_hostile_candidate_fails_that_sample_only(behaviour, tmp_path):
    grader = CompletionGrader(CompletionGraderConfig(timeout_s=3, memory_mb=256), cache_dir=tmp_path / "cache")
    row = CompletionProblem.model_validate(PROBLEMS[0])
    before = {p.pid for p in psutil.process_iter()}
    started = time.monotonic()
    result = await grader.evaluate(EvalRequest(instance=row, patch=HOSTILE[behaviour], log_dir=tmp_path / "log"))
    took = time.monotonic() - started
    assert not result.resolved and result.error_class is None, result
    assert result.detail.startswith("failed: ") and took < 12, (result.detail, took)
    time.sleep(0.2)
    left = [p for p in psutil.process_iter(["cmdline"]) if p.pid not in before and "jail.py" in " ".join(p.info["cmdline"] or [])]
    assert not left, f"{behaviour}: {left} still running"
    good = await grader.evaluate(EvalRequest(instance=row, patch=PROBLEMS[0]["canonical_solution"], log_dir=tmp_path / "ok"))
    assert good.resolved and good.checks["syntax_valid"] and good.checks["degenerate"] is None
    await grader.aclose()


async def test_the_grader_preflight_runs_a_real_program(tmp_path):
    assert await CompletionGrader(CompletionGraderConfig(), cache_dir=tmp_path).preflight([]) == []
    broken = CompletionGrader(CompletionGraderConfig(python=str(tmp_path / "no-python")), cache_dir=tmp_path)
    assert "not found" in (await broken.preflight([]))[0]


# -- whole runs ----------------------------------------------------------------------------------

def test_humaneval_gold_passes_all_164_and_empty_none(tmp_path):
    runs = tmp_path / "runs"
    summaries = {}
    for agent in ("gold", "empty"):
        out = ramp(["run", "--dataset", "humaneval", "--agent", agent, "--headless", "--auto-approve",
                    "--json", "--phases", "164", "--runs-dir", str(runs), "--run-id", f"he-{agent}"],
                   cache_dir=tmp_path / "cache", timeout=900)
        # The default gate stops a run that resolves nothing: exit 1, with every sample graded.
        assert out.returncode == (0 if agent == "gold" else 1), out.stderr[-2000:]
        summaries[agent] = json_lines(out.stdout)[-1]["metrics"]
    gold, empty = summaries["gold"], summaries["empty"]
    assert (gold["resolved"], gold["scored"], gold["syntax_valid_rate"], gold["degenerate_rate"]) == (164, 164, 1.0, 0.0)
    assert (empty["resolved"], empty["scored"], empty["degenerate_by_rule"]) == (0, 164, {"empty": 164})
    rows = db_rows(runs, "SELECT evaluator, COUNT(*) AS n FROM evaluations GROUP BY evaluator")
    assert rows == [{"evaluator": "completion", "n": 328}]
    report = ramp(["report", "he-empty", "--format", "md", "--runs-dir", str(runs)], cache_dir=tmp_path / "cache")
    text = (runs / "he-empty" / "report.md").read_text()
    assert report.returncode == 0 and "| Syntax valid | 100.0% of 164 graded samples" in text, report.stderr
    assert "| Degenerate output | 100.0% |" in text and "164: the completion is empty or whitespace only" in text


ANSWERS = {
    "Toy__0": "```python\ndef double(x):\n    return 2 * x\n```",  # right, as a whole function
    "Toy__1": "    return return x * x\n",  # syntax-invalid and degenerate
    "Toy__2": "    y = x.upper()\n" * 4,  # parses, repeats a line, wrong
    "Toy__3": "    while True:\n        pass\n",  # never ends
    "Toy__4": "    xs = []\n    while True:\n        xs.append(' ' * 10**7)\n",  # allocates without bound
}


def respond(messages: list[Message], context: CallContext) -> str:
    """The scripted model: a fixed answer per problem; Toy__5 right on attempt 1 only."""
    if context.instance_id == "Toy__5":
        return "    return x[::-1]\n" if context.attempt == 1 else "    return x\n"
    return ANSWERS[str(context.instance_id)]


def settings_for(tmp_path: Path, dataset: str, **run: object):
    models = tmp_path / "models.yaml"
    models.write_text(yaml.safe_dump({"models": {"scripted-coder": {
        "provider": "scripted", "local": True, "options": {"callable": f"{__name__}:respond"}}}}))
    return load_settings(environ={}, overrides={
        "paths.runs_dir": str(tmp_path / "runs"), "paths.cache_dir": str(tmp_path / "cache"),
        "paths.secrets_file": str(tmp_path / "credentials.txt"), "paths.models_file": str(models),
        "run.dataset": dataset, "run.agent": "complete", "run.model": "scripted-coder",
        "ramp.approval": "auto", "run.max_retries": 0, "evaluators.completion.timeout_s": 3,
        "evaluators.completion.memory_mb": 256, **{f"run.{k}": v for k, v in run.items()},
    })


async def test_broken_looping_and_greedy_answers_are_graded_not_crashed(toy_file, tmp_path):
    settings = settings_for(tmp_path, str(toy_file), attempts=3, attempt_policy="fixed")
    out = io.StringIO()
    result = await execute_run(settings, display=JsonLinesDisplay(out), run_id="toy-1")
    assert result.exit_code == 0, out.getvalue()[-3000:]
    outcomes = result.outcomes
    assert outcomes["Toy__0"] == "resolved" and outcomes["Toy__5"] == "resolved"
    assert all(outcomes[i] == "unresolved" for i in ("Toy__1", "Toy__2", "Toy__3", "Toy__4")), outcomes
    async with Store(tmp_path / "runs" / "ramp.sqlite") as store:
        evals = {(e["instance_id"], e["attempt"]): e for e in await store.evaluations("toy-1")}
        attempts = await store.attempts("toy-1")
    assert len(evals) == 18 and all(a["outcome"] in ("resolved", "unresolved") for a in attempts)
    checks = {k: json.loads(e["checks_json"]) for k, e in evals.items()}
    assert checks["Toy__1", 1] == {"syntax_valid": False, "syntax_error": checks["Toy__1", 1]["syntax_error"],
                                   "degenerate": "repeated_keyword"}
    assert checks["Toy__2", 1]["degenerate"] == "repeated_line" and checks["Toy__2", 1]["syntax_valid"]
    assert "timed out after 3 s" in evals["Toy__3", 1]["detail"]
    assert "MemoryError" in evals["Toy__4", 1]["detail"] or "killed" in evals["Toy__4", 1]["detail"]
    summary = json_lines(out.getvalue())[-1]["metrics"]
    # pass@k over 3 samples each: Toy__0 3/3, Toy__5 1/3, the rest 0/3.
    assert summary["pass_at_k"]["1"] == pytest.approx((1 + 1 / 3) / 6, abs=1e-4)
    assert summary["pass_at_k"]["2"] == pytest.approx((1 + 2 / 3) / 6, abs=1e-4)
    assert summary["syntax_valid_rate"] == pytest.approx(15 / 18, abs=1e-4)
    assert summary["degenerate_rate"] == pytest.approx(6 / 18, abs=1e-4)
    assert summary["per_repo"]["math"]["instances"] == 3 and summary["per_repo"]["text"]["instances"] == 3
    # What `ramp watch` and the TUI fold from the events says the same, and the counters bar shows it.
    counters = RunFeed(tmp_path / "runs" / "ramp.sqlite", "toy-1").catch_up().snapshot(time.time()).counters
    assert (counters.checked_samples, counters.syntax_valid, counters.degenerate, counters.passed_samples) == (18, 15, 6, 4)
    app = RampApp(tmp_path / "runs", "toy-1", glyphs=ASCII)
    async with app.run_test(size=(80, 24)) as pilot:
        bar = app.screen.query_one(CountersBar)
        await wait_for(pilot, lambda: bar.snapshot is not None and bar.snapshot.status == "completed",
                       what="the finished run")
        await pilot.pause()
        text = bar.render().plain
        assert "errors none  syntax 83% degen 33%" in text and "pass@1 22%" in text  # at 80 columns, uncut
        await pilot.press("q")
    trajectory = json.loads(Path(attempts[0]["trajectory_path"]).read_text())
    assert trajectory["steps"][0]["candidate"] is not None and trajectory["result"]["exit_status"]


async def test_a_family_refuses_agents_it_cannot_run(toy_file, tmp_path):
    from engine.run.wiring import wire

    for agent in ("direct-edit", "bash"):
        with pytest.raises(ConfigError, match="cannot answer completion rows"):
            await wire(settings_for(tmp_path, str(toy_file), agent=agent))
    with pytest.raises(ConfigError, match="answers code-completion problems"):
        await wire(settings_for(tmp_path, "bundled"))



@pytest.mark.parametrize(("reply", "candidate"), [
    ("```python\ndef double(x):\n    return 2 * x\n```\nThat doubles x.", "\ndef double(x):\n    return 2 * x\n"),
    ("def double(x):\n    return 2 * x\n```", "\ndef double(x):\n    return 2 * x\n"),  # a closing fence alone
    ("    return 2 * x\n", "    return 2 * x\n"),  # a continuation of the prompt
    ("```\n    return 2 * x\n```", "    return 2 * x\n"),
    ("", ""),
])
def test_the_complete_agent_turns_a_reply_into_a_candidate(reply, candidate):
    from engine.agents.complete import candidate_of

    row = CompletionProblem.model_validate(PROBLEMS[0])
    assert candidate_of(reply, row) == candidate
    if candidate:
        assert syntax_error(row.source_of(candidate)) is None


def test_a_template_with_an_unknown_placeholder_is_refused_at_load(tmp_path):
    settings = settings_for(tmp_path, "humaneval")
    settings.agents["complete"] = {"template": {"user": "Solve {task}"}}
    from engine.run.wiring import build_agent

    with pytest.raises(ConfigError, match=r"agents.complete.*template.*user.*\{prompt\}"):
        build_agent(settings)


SYSTEM_PYTHON = "/usr/bin/python3"


@pytest.mark.skipif(os.geteuid() != 0 or not Path(SYSTEM_PYTHON).exists(),
                    reason="needs root and a world-readable interpreter at /usr/bin/python3")
async def test_as_root_with_a_readable_interpreter_candidates_run_unprivileged_and_forks_hit_the_limit(tmp_path):
    config = CompletionGraderConfig(timeout_s=5, memory_mb=256, max_processes=8, python=SYSTEM_PYTHON)
    grader = CompletionGrader(config, cache_dir=tmp_path / "cache")
    assert grader.runner.uid is not None
    row = CompletionProblem.model_validate(problem("Toy/9", "who", "    import os\n    return os.getuid()\n",
                                                   "    assert candidate(0) != 0"))
    assert (await grader.evaluate(EvalRequest(instance=row, patch=row.patch, log_dir=tmp_path / "a"))).resolved
    bomb = "    import os, time\n    while True:\n        os.fork()\n"
    result = await grader.evaluate(EvalRequest(instance=row, patch=bomb, log_dir=tmp_path / "b"))
    assert not result.resolved and "Resource temporarily unavailable" in (tmp_path / "b" / "test_output.txt").read_text()
    await grader.aclose()
