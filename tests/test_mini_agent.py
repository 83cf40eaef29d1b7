"""Bring your own agent, part three: mini-swe-agent's real loop inside Ramp (``--agent mini``).

The model is Ramp's scripted provider, answering as a model would in mini's text format: it reads
the file, rewrites it with a real shell command in the real sandbox, runs the tests, and submits
with mini's sentinel. One task is given the fix, one a wrong edit, and one replies without an
action until mini's format-error limit. The local evaluator grades what the sandbox holds.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
import yaml

from engine.core.config import load_settings
from engine.models.base import CallContext, Message
from engine.run.display import JsonLinesDisplay
from engine.run.runner import execute_run
from engine.store import Store
from tests.agenthelpers import shared_cache

ROOT = Path(__file__).resolve().parents[1]
TASKS = ROOT / "engine" / "datasets" / "bundled" / "tasks"
FIX, WRONG, FORMAT = "ramp-bundled__romans-1", "ramp-bundled__slugkit-1", "ramp-bundled__wraptext-1"
SUBMIT = "echo COMPLETE_TASK_AND_SUBMIT_FINAL_OUTPUT && git add -A && git diff --cached"


def _action(thought: str, command: str) -> str:
    return f"THOUGHT: {thought}\n\n```mswea_bash_command\n{command}\n```"


def _write(path: str, text: str) -> str:
    return f"cat > {path} <<'RAMP_EOF'\n{text}RAMP_EOF"


def respond(messages: list[Message], context: CallContext) -> str:
    """The scripted model: what it says depends on the task and on how many turns it has had."""
    turn = sum(1 for m in messages if m.role == "assistant")
    last = messages[-1].content
    if context.instance_id == FORMAT:
        return "I think the bug is in the wrapping, but I will not give a command."
    if turn == 0:
        target = "romans/numerals.py" if context.instance_id == FIX else "slugkit/slug.py"
        return _action("Read the module first.", f"cat {target} | head -5")
    if turn == 1:
        assert "<returncode>0</returncode>" in last, last  # the real command's real observation
        if context.instance_id == FIX:
            fixed = (TASKS / "romans" / "fix" / "romans" / "numerals.py").read_text()
            return _action("Replace it with the fixed version.", _write("romans/numerals.py", fixed))
        return _action("A wrong guess.", "printf '\\n# touched\\n' >> slugkit/slug.py")
    if turn == 2:
        return _action("Run the tests.", "python -m pytest -q -x 2>&1 | tail -3")
    return _action("Submit.", SUBMIT)


def settings_for(tmp_path: Path, **run: object):
    models = tmp_path / "models.yaml"
    models.write_text(yaml.safe_dump({"models": {"scripted-mini": {
        "provider": "scripted", "options": {"callable": f"{__name__}:respond"}}}}))
    return load_settings(environ={}, overrides={
        "paths.runs_dir": str(tmp_path / "runs"), "paths.cache_dir": str(shared_cache()),
        "paths.secrets_file": str(tmp_path / "credentials.txt"), "paths.models_file": str(models),
        "run.dataset": "bundled", "run.instances": [FIX, WRONG, FORMAT], "run.agent": "mini",
        "run.model": "scripted-mini", "run.evaluator": "local", "run.sandbox": "local", "ramp.approval": "auto",
        "run.max_retries": 0, **{f"run.{k}": v for k, v in run.items()},
    })


@pytest.mark.slow
async def test_mini_swe_agents_loop_solves_one_task_and_not_the_others(tmp_path):
    out = io.StringIO()
    result = await execute_run(settings_for(tmp_path), display=JsonLinesDisplay(out), run_id="mini-1")
    assert result.outcomes == {FIX: "resolved", WRONG: "unresolved", FORMAT: "unresolved"}, out.getvalue()[-3000:]
    async with Store(tmp_path / "runs" / "ramp.sqlite") as store:
        calls = await store.llm_calls("mini-1")
        attempts = {a["instance_id"]: a for a in await store.attempts("mini-1")}
    per_instance = {iid: [c for c in calls if c["instance_id"] == iid] for iid in (FIX, WRONG, FORMAT)}
    assert len(per_instance[FIX]) == 4 and len(per_instance[WRONG]) == 4       # read, edit, test, submit
    assert len(per_instance[FORMAT]) == 3                                       # mini's format-error limit
    assert all(c["input_tokens"] > 0 and c["attempt"] == 1 for c in calls)
    assert attempts[FIX]["calls"] == 4 and attempts[FORMAT]["error_class"] == "model_format"
    assert attempts[WRONG]["exit_status"] == "submitted" and attempts[WRONG]["patch_bytes"] > 0

    folder = tmp_path / "runs" / "mini-1" / "attempts" / f"{FIX}.1"
    trajectory = json.loads((folder / "trajectory.json").read_text())    # mini's own format, saved by mini
    assert trajectory["trajectory_format"].startswith("mini-swe-agent")
    assert trajectory["info"]["exit_status"] == "Submitted"
    assert trajectory["info"]["config"]["model"]["model_name"] == "scripted-mini"
    roles = [m["role"] for m in trajectory["messages"]]
    assert roles[:2] == ["system", "user"] and roles[-1] == "exit" and roles.count("assistant") == 4
    assert "passed" in trajectory["messages"][-3]["content"]                 # the tests really ran
    steps = [json.loads(line) for line in out.getvalue().splitlines() if '"agent_step"' in line]
    assert any(s["instance_id"] == FIX and s["summary"].startswith("$ cat > romans/numerals.py") for s in steps)


@pytest.mark.slow
async def test_ramps_step_budget_is_minis_step_limit(tmp_path):
    settings = settings_for(tmp_path, instances=[FIX], **{"budgets.max_steps": 2})
    result = await execute_run(settings, display=JsonLinesDisplay(io.StringIO()), run_id="mini-2")
    async with Store(tmp_path / "runs" / "ramp.sqlite") as store:
        attempt = (await store.attempts("mini-2"))[0]
        calls = await store.llm_calls("mini-2")
    assert len(calls) == 2 and attempt["exit_status"] == "budget_exhausted"
    assert result.outcomes == {FIX: "resolved"}  # the edit of step 2 is graded, as for any agent out of budget
