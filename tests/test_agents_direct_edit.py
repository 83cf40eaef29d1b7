"""The direct-edit loop on real bundled checkouts with the scripted provider: every way it can end."""

from __future__ import annotations

import json

import pytest

from engine.agents.direct_edit import DirectEditAgent, DirectEditConfig
from engine.core.errors import AttemptError
from engine.demo.script import scripts
from engine.models.scripted import ScriptedModel

from .agenthelpers import Priced, Recorder, block, checkout, make_task

FAST = "PYTHONDONTWRITEBYTECODE=1 PYTEST_DISABLE_PLUGIN_AUTOLOAD=1 python -m pytest -rA -p no:cacheprovider {tests}"


def answers(task: str) -> list[str]:
    return scripts()[f"ramp-bundled__{task}-1"].edit


def agent(**options) -> DirectEditAgent:
    return DirectEditAgent(DirectEditConfig(test_command=FAST, **options))


async def run(tmp_path, task, model, *, config=None, budgets=None, public_tests=()):
    row, sandbox = await checkout(task, tmp_path / "ws")
    agent_task = make_task(row, tmp_path, **(budgets or {})).model_copy(update={"public_tests": list(public_tests)})
    reporter = Recorder(agent_task.trajectory_path)
    result = await (config or agent()).run(agent_task, sandbox, model, reporter)
    trajectory = json.loads(agent_task.trajectory_path.read_text())
    # Saved after every step: the file parsed, holding exactly the steps so far, each time.
    assert reporter.saved_steps == list(range(1, len(trajectory["steps"]) + 1))
    return result, trajectory, reporter


async def test_solved_on_the_first_try(tmp_path):
    model = ScriptedModel.of(answers("romans"))
    result, trajectory, reporter = await run(tmp_path, "romans", model)
    assert result.exit_status == "submitted" and result.error_class is None and result.steps == 1
    assert "+    if not 0 < total < 4000 or to_roman(total) != text:" in result.patch
    assert reporter.sub_states == ["localize", "read", "edit", "test", "submit"]
    assert [m["role"] for m in trajectory["messages"]] == ["system", "user", "assistant"]
    assert "### romans/numerals.py" in trajectory["messages"][1]["content"]  # read whole
    edit_step = trajectory["steps"][-1]
    assert edit_step["summary"] == "edited romans/numerals.py; tests: 14 passed"
    assert edit_step["usage"]["input_tokens"] > 0 and edit_step["cost_usd"] == 0.0
    assert trajectory["result"]["exit_status"] == "submitted" and trajectory["totals"]["calls"] == 1


async def test_solved_after_test_feedback(tmp_path):
    model = ScriptedModel.of(answers("iniparse"))
    result, trajectory, _ = await run(tmp_path, "iniparse", model)
    assert result.exit_status == "submitted" and result.steps == 2
    assert "_strip_inline_comment" in result.patch and "split(\";\"" not in result.patch
    feedback = model.calls[1][-1].content
    assert "FAILED tests/test_parser.py::test_semicolon_inside_unquoted_value" in feedback
    assert "'/usr/lib;/opt/lib'" in feedback  # the assertion, trimmed
    assert 'value = value.split(";", 1)[0]' in feedback  # the file as it is now, to SEARCH against
    assert [s["summary"].split(";")[1] for s in trajectory["steps"][2:]] == [
        " tests: 2 failed, 4 passed", " tests: 6 passed",
    ]


async def test_the_same_failure_twice_is_stuck(tmp_path):
    result, trajectory, _ = await run(tmp_path, "semverkit", ScriptedModel.of(answers("semverkit")))
    assert result.exit_status == "stuck" and "same test failure" in result.detail
    assert "semverkit/parse.py" in result.patch  # the workspace is handed back as it is
    assert trajectory["result"]["exit_status"] == "stuck"


async def test_the_same_edits_twice_is_stuck(tmp_path):
    wrong = block("romans/numerals.py", "    return sum(symbols)", "    return 0")
    result, _, _ = await run(tmp_path, "romans", ScriptedModel.of([wrong, wrong]))
    assert result.exit_status == "stuck" and "same edits" in result.detail
    assert result.patch == ""


async def test_edits_that_do_not_apply_are_reported_precisely(tmp_path):
    wrong = block("romans/numerals.py", "  return sum(_SYMBOLS[char] for char in text)", "  return 0")
    model = ScriptedModel.of([wrong, *answers("romans")])
    result, _, _ = await run(tmp_path, "romans", model)
    assert result.exit_status == "submitted"
    feedback = model.calls[1][-1].content
    assert feedback.startswith("None of your edits were applied (the files are unchanged), because:")
    assert "block 1 (romans/numerals.py): SEARCH does not match the file exactly" in feedback
    assert "(from line 39) are:\n    return sum(_SYMBOLS[char] for char in text)" in feedback  # the real line


async def test_malformed_output_gets_a_format_correction(tmp_path):
    model = ScriptedModel.of(["I would rewrite from_roman.", *answers("romans")])
    result, trajectory, _ = await run(tmp_path, "romans", model)
    assert result.exit_status == "submitted" and result.steps == 2
    correction = model.calls[1][-1].content
    assert correction.startswith("Your reply could not be used: no edit blocks found")
    assert "<<<<<<< SEARCH" in correction
    assert trajectory["steps"][2]["summary"].startswith("malformed reply (1/3)")


async def test_repeated_malformed_output_ends_with_model_format(tmp_path):
    result, trajectory, reporter = await run(tmp_path, "slugkit", ScriptedModel.of(answers("slugkit")))
    assert (result.exit_status, result.error_class) == ("error", "model_format")
    assert result.patch == "" and result.steps == 3
    assert "3 malformed replies in a row" in result.detail
    assert reporter.sub_states[-1] == "submit"
    assert trajectory["result"]["error_class"] == "model_format"


async def test_step_budget(tmp_path):
    result, _, _ = await run(tmp_path, "iniparse", ScriptedModel.of(answers("iniparse")), budgets={"max_steps": 1})
    assert (result.exit_status, result.error_class) == ("budget_exhausted", None)
    assert "step budget of 1" in result.detail
    assert 'split(";", 1)[0]' in result.patch  # what was done before the budget ran out


async def test_token_budget(tmp_path):
    model = ScriptedModel.of(answers("iniparse"))
    result, trajectory, _ = await run(tmp_path, "iniparse", model, budgets={"max_tokens": 500})
    assert result.exit_status == "budget_exhausted" and "token budget of 500" in result.detail
    assert len(model.calls) == 1 and trajectory["totals"]["input_tokens"] > 500


async def test_cost_budget(tmp_path):
    model = Priced(answers("iniparse"), cost_per_call=0.02)
    result, trajectory, _ = await run(tmp_path, "iniparse", model, budgets={"max_cost_usd": 0.015})
    assert result.exit_status == "budget_exhausted" and "cost budget of $0.0150" in result.detail
    assert trajectory["totals"]["cost_usd"] == 0.02


async def test_wall_time_budget_stops_before_the_scheduler_would(tmp_path):
    model = ScriptedModel.of(answers("romans"))
    result, _, _ = await run(tmp_path, "romans", model, config=agent(wall_reserve_s=30), budgets={"max_wall_s": 20})
    assert result.exit_status == "budget_exhausted" and "wall-time budget" in result.detail
    assert model.calls == []


async def test_the_judge_can_send_the_model_back(tmp_path):
    edits = answers("lrucache")
    model = ScriptedModel.of([edits[0], "REJECT: put() still does not refresh a key", edits[1], "ACCEPT"])
    result, trajectory, reporter = await run(tmp_path, "lrucache", model, config=agent(judge=True))
    assert result.exit_status == "submitted" and result.steps == 4
    assert reporter.sub_states.count("judge") == 2
    assert "reviewer rejected the change:\nput() still does not refresh a key" in model.calls[2][-1].content
    assert [s["summary"] for s in trajectory["steps"] if s["sub_state"] == "judge"] == [
        "judge: rejected: put() still does not refresh a key", "judge: accepted",
    ]
    assert "+        self._items.move_to_end(key)\n         if len" in result.patch


async def test_the_model_can_pick_the_files(tmp_path):
    model = ScriptedModel.of(["romans/__init__.py\nnot/a/file.py", *answers("romans")])
    result, trajectory, _ = await run(tmp_path, "romans", model, config=agent(localize_with_model=True, max_files=1))
    assert result.exit_status == "submitted"
    assert trajectory["steps"][0]["observation"] == {"chosen": ["romans/__init__.py"]}
    assert "- romans/numerals.py" in model.calls[0][0].content  # the ranked candidates were offered
    assert "### romans/__init__.py" in model.calls[1][1].content
    assert "### romans/numerals.py" not in model.calls[1][1].content


async def test_public_tests_are_the_feedback_in_feedback_split_mode(tmp_path):
    fix = answers("iniparse")[1].replace(  # the right fix, written against the base file
        '        value = value.split(";", 1)[0]\n        current[key.strip().lower()] = _unquote(value.strip())\n=',
        "        current[key.strip().lower()] = _unquote(value.strip())\n=",
    )
    row, _ = await checkout("iniparse", tmp_path / "probe")
    public, hidden = row.FAIL_TO_PASS[:2], row.FAIL_TO_PASS[2:]
    result, trajectory, _ = await run(tmp_path, "iniparse", ScriptedModel.of([fix]), public_tests=public)
    assert result.exit_status == "submitted"
    tested = trajectory["steps"][-1]["observation"]
    assert all(test in tested["command"] for test in public)
    assert not any(test in tested["command"] for test in hidden)
    assert tested["feedback"] == "All 2 tests passed."
    assert "tests/" not in result.patch  # the test patch was only there while the tests ran


async def test_a_provider_failure_propagates_with_the_trajectory_saved(tmp_path):
    def refuse(messages, context):
        raise AttemptError("rate_limit", "429 from the provider")

    row, sandbox = await checkout("romans", tmp_path / "ws")
    task = make_task(row, tmp_path)
    with pytest.raises(AttemptError) as caught:
        await agent().run(task, sandbox, ScriptedModel.of(refuse), Recorder())
    assert caught.value.error_class == "rate_limit"
    saved = json.loads(task.trajectory_path.read_text())
    assert saved["result"]["exit_status"] == "error" and saved["result"]["error_class"] == "rate_limit"
