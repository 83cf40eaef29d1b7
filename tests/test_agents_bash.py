"""The bash agent: one command per turn in a real sandbox, with the scripted provider."""

from __future__ import annotations

import json

from engine.agents.bash import BashAgent, BashConfig, truncate
from engine.demo.script import scripts
from engine.models.scripted import ScriptedModel

from .agenthelpers import Recorder, checkout, make_task


def bash(command: str, thought: str = "Next step.") -> str:
    return f"{thought}\n\n```bash\n{command}\n```\n"


SUBMIT = bash("echo RAMP_SUBMIT", "Done.")


async def run(tmp_path, task, replies, *, budgets=None, **options):
    row, sandbox = await checkout(task, tmp_path / "ws")
    agent_task = make_task(row, tmp_path, **(budgets or {}))
    model = ScriptedModel.of(replies)
    reporter = Recorder(agent_task.trajectory_path)
    result = await BashAgent(BashConfig(**options)).run(agent_task, sandbox, model, reporter)
    trajectory = json.loads(agent_task.trajectory_path.read_text())
    assert reporter.saved_steps == list(range(1, len(trajectory["steps"]) + 1))
    return result, trajectory, model, reporter


async def test_solved_with_shell_commands(tmp_path):
    replies = scripts()["ramp-bundled__daterange-1"].bash
    result, trajectory, model, reporter = await run(tmp_path, "daterange", replies)
    assert result.exit_status == "submitted" and result.steps == 4
    assert "+import calendar" in result.patch
    assert reporter.sub_states == ["think", "act"] * 4 + ["submit"]
    first = trajectory["steps"][0]
    assert first["action"] == 'grep -n "def add_months" -A 4 daterange/ranges.py'
    assert first["observation"].startswith("<returncode>0</returncode>\n<output>\n18:def add_months")
    assert model.calls[1][-1].content == first["observation"]  # what the model saw next
    assert "passed" in trajectory["steps"][2]["observation"]


async def test_test_failures_lead_to_a_second_edit(tmp_path):
    replies = scripts()["ramp-bundled__wraptext-1"].bash
    result, trajectory, _, _ = await run(tmp_path, "wraptext", replies)
    assert result.exit_status == "submitted"
    assert "<returncode>1</returncode>" in trajectory["steps"][1]["observation"]
    assert "FAILED tests/test_wrap.py::test_wraps_at_spaces" in trajectory["steps"][1]["observation"]
    assert "len(current) + 1 + len(word) <= width" in result.patch


async def test_one_block_per_reply_or_a_format_correction(tmp_path):
    replies = [bash("ls") + bash("pwd"), "I think I am done.", bash("ls"), SUBMIT]
    result, trajectory, model, _ = await run(tmp_path, "romans", replies)
    assert result.exit_status == "no_patch" and result.patch == ""
    assert model.calls[1][-1].content.startswith("Your reply must contain exactly one ```bash block")
    assert "it had 2" in model.calls[1][-1].content and "it had 0" in model.calls[2][-1].content
    assert [s["summary"] for s in trajectory["steps"][:2]] == [
        "malformed reply (1/3): 2 bash blocks", "malformed reply (2/3): 0 bash blocks",
    ]


async def test_repeated_malformed_replies_end_with_model_format(tmp_path):
    result, _, _, _ = await run(tmp_path, "romans", ["no command", "still none", "nothing"])
    assert (result.exit_status, result.error_class) == ("error", "model_format")


async def test_the_sentinel_must_open_the_output(tmp_path):
    replies = [bash("echo hello; echo RAMP_SUBMIT"), SUBMIT]
    result, trajectory, _, _ = await run(tmp_path, "romans", replies)
    assert len(trajectory["steps"]) == 2 and result.steps == 2


async def test_a_slow_command_is_killed_and_reported(tmp_path):
    result, trajectory, _, _ = await run(tmp_path, "romans", [bash("echo start; sleep 30"), SUBMIT],
                                         command_timeout_s=1.0)
    observation = trajectory["steps"][0]["observation"]
    assert observation.startswith("The command timed out after 1s and was killed.")
    assert "start" in observation and trajectory["steps"][0]["duration_s"] < 10


async def test_long_output_keeps_head_and_tail(tmp_path):
    command = "python -c \"print('HEAD' + 'x' * 50000 + 'TAIL')\""
    _, trajectory, _, _ = await run(tmp_path, "romans", [bash(command), SUBMIT], max_output_chars=1000)
    observation = trajectory["steps"][0]["observation"]
    assert "HEAD" in observation and "TAIL" in observation and "characters left out" in observation
    assert len(observation) < 1200


def test_truncate_leaves_short_output_alone():
    assert truncate("short", 1000) == "short"
    assert truncate("a" * 10 + "b" * 10, 10) == "aaaaa\n[... 10 characters left out ...]\nbbbbb"


async def test_the_same_command_and_output_again_and_again_is_stuck(tmp_path):
    result, _, _, _ = await run(tmp_path, "romans", [bash("ls")] * 3 + [SUBMIT])
    assert result.exit_status == "stuck" and "3 times in a row" in result.detail


async def test_step_budget(tmp_path):
    replies = scripts()["ramp-bundled__daterange-1"].bash
    result, _, model, _ = await run(tmp_path, "daterange", replies, budgets={"max_steps": 2})
    assert (result.exit_status, result.error_class) == ("budget_exhausted", None)
    assert len(model.calls) == 2 and "+import calendar" in result.patch


async def test_the_shell_does_not_inherit_the_engines_credentials(tmp_path, monkeypatch):
    monkeypatch.setenv("OPENROUTER_API_KEY", "sk-or-v1-planted-for-the-sandbox-test")
    _, trajectory, _, _ = await run(tmp_path, "romans", [bash("env"), SUBMIT])
    observation = trajectory["steps"][0]["observation"]
    assert "PATH=" in observation and "OPENROUTER_API_KEY" not in observation
    assert "PYTHONDONTWRITEBYTECODE=1" in observation  # no caches in the diff
