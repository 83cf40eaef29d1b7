"""Models wired into a whole run (execute_run): the catalog model reaches the agent, accounted; a run
budget ends the run cleanly; and no planted key reaches any file or output of the run.

The agent and the evaluator here are minimal stand-ins registered for the test (one model call per
attempt; an instant "unresolved" grade), so the run exercises the real scheduler, store, run folder,
sandboxes and displays in a couple of seconds.
"""

from __future__ import annotations

import io
import json
import logging
from pathlib import Path

import pytest
from pydantic import BaseModel

from engine.agents import AGENTS
from engine.agents.base import AgentResult
from engine.core import secrets
from engine.core.config import load_settings
from engine.evaluators import EVALUATORS
from engine.evaluators.base import EvalResult
from engine.models.base import CallContext, Message
from engine.run.display import JsonLinesDisplay
from engine.run.runner import execute_run
from engine.store import Store
from tests.fakeservers import FAST, OpenAIServer, bad_json, no_choices, ok, slow, status

ENV_KEY = "sk-or-v1-run-scan-planted-in-env-00112233445566778899"
FILE_KEY = "sk-or-v1-run-scan-planted-in-file-99887766554433221100"


class OneCallAgent:
    """Asks the model once, saves what it said in its trajectory, and submits it as the patch."""

    name = "one-call-test"
    needs_model = True
    instance_ids = None
    model_label = None

    async def run(self, task, sandbox, model, reporter) -> AgentResult:
        done = await model.complete(
            [Message(role="user", content="Fix the issue.")], max_tokens=20,
            context=CallContext(run_id=task.run_id, instance_id=task.instance.instance_id, attempt=task.attempt),
        )
        task.trajectory_path.write_text(secrets.current()(json.dumps({"reply": done.text})))
        await reporter.step(1, f"model said {done.text[:80]}")
        return AgentResult(patch=f"--- a/x\n+++ b/x\n+{done.text}\n", exit_status="submitted",
                           trajectory_path=str(task.trajectory_path))


class InstantEvaluator:
    """Grades every patch unresolved at once: the evaluation lane without the test suites."""

    name = "instant-test"

    class Config(BaseModel):
        pass

    def __init__(self, config, **_: object):
        self.config = config

    async def preflight(self, instances) -> list[str]:
        return []

    async def evaluate(self, request) -> EvalResult:
        return EvalResult(resolved=False, applied=True, detail="instant")

    async def aclose(self) -> None:
        return None


AGENTS.register("one-call-test", f"{__name__}:OneCallAgent")
EVALUATORS.register("instant-test", f"{__name__}:InstantEvaluator")


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("cache")


@pytest.fixture
def server():
    with OpenAIServer() as running:
        yield running


def settings_for(tmp_path: Path, cache_dir: Path, server: OpenAIServer, *, price, budget_usd, instances: int,
                 **run: object):
    import yaml

    models = tmp_path / "models.yaml"
    models.write_text(yaml.safe_dump({"models": {"fake": {
        "provider": "openai-compatible", "base_url": server.url, "name": "fake-model",
        "api_key_env": "OPENROUTER_API_KEY", "price": price, **FAST,
    }}}))
    creds = tmp_path / "credentials.txt"
    creds.write_text(f"OPENROUTER_API_KEY={FILE_KEY}\n")
    ids = ["ramp-bundled__csvstats-1", "ramp-bundled__slugkit-1", "ramp-bundled__wraptext-1",
           "ramp-bundled__semverkit-1"][:instances]
    return load_settings(environ={}, overrides={
        "paths.runs_dir": str(tmp_path / "runs"), "paths.cache_dir": str(cache_dir),
        "paths.secrets_file": str(creds), "paths.models_file": str(models),
        "run.dataset": "bundled", "run.instances": ids, "run.agent": "one-call-test", "run.model": "fake",
        "run.evaluator": "instant-test", "run.budget_usd": budget_usd, "run.agent_concurrency": 1,
        "ramp.approval": "auto", **{f"run.{k}": v for k, v in run.items()},
    })


async def test_run_budget_stops_new_attempts_and_a_resume_with_more_budget_finishes(
    tmp_path, cache_dir, server, monkeypatch
):
    monkeypatch.setenv("OPENROUTER_API_KEY", ENV_KEY)
    settings = settings_for(tmp_path, cache_dir, server, price={"input": 100.0, "output": 100.0},
                            budget_usd=0.006, instances=4)  # room for two calls of $0.0017
    out = io.StringIO()
    result = await execute_run(settings, display=JsonLinesDisplay(out), run_id="budget-1")
    events = [json.loads(line) for line in out.getvalue().splitlines()]
    finished = next(e for e in events if e["kind"] == "run_finished")
    assert result.status == "stopped" and result.exit_code == 1
    assert finished["reason"].startswith("budget: run budget $0.0060 reached: spent $0.0034")
    assert sorted(map(str, result.outcomes.values())) == ["None", "None", "unresolved", "unresolved"]
    assert any(e["kind"] == "alert" and "run budget" in e["message"] for e in events)
    async with Store(tmp_path / "runs" / "ramp.sqlite") as store:
        calls = await store.llm_calls("budget-1")
        attempts = await store.attempts("budget-1")
        states = sorted(i["state"] for i in await store.instances("budget-1"))
        spend = await store.run_spend("budget-1")
    assert len(server.calls("/v1/chat/completions")) == len(calls) == 2 and spend <= 0.006
    assert [a["status"] for a in attempts].count("done") == 2 and len(attempts) == 3
    assert states == ["agent", "queued", "unresolved", "unresolved"]  # refused mid-agent; never started

    resumed = await execute_run(settings.model_copy(update={"run": settings.run.model_copy(
        update={"budget_usd": 1.0})}), display=JsonLinesDisplay(io.StringIO()), run_id="budget-1")
    assert resumed.status != "stopped" and set(resumed.outcomes.values()) == {"unresolved"}  # the gate may STOP 0%
    async with Store(tmp_path / "runs" / "ramp.sqlite") as store:
        calls = await store.llm_calls("budget-1")
        attempts = await store.attempts("budget-1")
    assert len(server.calls("/v1/chat/completions")) == len(calls) == 4
    assert len(attempts) == 4 and sum(a["calls"] for a in attempts) == 4


async def test_no_planted_key_reaches_any_file_or_output_of_a_run(tmp_path, cache_dir, server, monkeypatch, caplog):
    monkeypatch.setenv("OPENROUTER_API_KEY", ENV_KEY)
    server.script(status(500, "upstream rejected {authorization}"), ok("echo {authorization}"))
    server.default = ok("again {authorization}")
    settings = settings_for(tmp_path, cache_dir, server, price=None, budget_usd=None, instances=2)
    out = io.StringIO()
    previous = secrets.current()
    try:
        with caplog.at_level(logging.DEBUG):
            result = await execute_run(settings, display=JsonLinesDisplay(out), run_id="scan-1")
    finally:
        secrets.install(previous)
    assert result.summary is not None and len(server.calls("/v1/chat/completions")) == 3  # 500, then 2 ok
    assert all(r.headers["authorization"] == f"Bearer {ENV_KEY}" for r in server.requests if r.method == "POST")
    events = [json.loads(line) for line in out.getvalue().splitlines()]
    assert any(e["kind"] == "alert" and "[warn] model fake price" in e["message"] for e in events)
    assert [e["cost_usd"] for e in events if e["kind"] == "llm_call"] == [0.0, None, None]
    haystacks = {"stdout": out.getvalue(), "logs": caplog.text}
    for path in (tmp_path / "runs").rglob("*"):
        if path.is_file():
            haystacks[str(path)] = path.read_bytes().decode("utf-8", "replace")
    assert any(name.endswith("trajectory.json") for name in haystacks)
    assert any(name.endswith("patch.diff") for name in haystacks)
    hits = [name for name, text in haystacks.items() for key in (FILE_KEY, ENV_KEY) if key in text]
    assert hits == []


@pytest.mark.parametrize("fault", ["hang", "cut_body", "no_choices"])
async def test_a_provider_fault_is_never_scored_against_the_model(tmp_path, cache_dir, server, monkeypatch, fault):
    """A provider that never answers (past its read timeout), or answers a 200 whose body is cut or
    empty, fails the attempt as infra: unscored, the run exits 3. It was once scored (`timeout`,
    `model_format`): resolved rate 0, the gate said STOP, exit 1, the model blamed for an outage."""
    monkeypatch.setenv("OPENROUTER_API_KEY", ENV_KEY)
    server.default = {"hang": slow(0.6), "cut_body": bad_json(), "no_choices": no_choices()}[fault]
    settings = settings_for(tmp_path, cache_dir, server, price=None, budget_usd=None, instances=2,
                            max_retries=1, retry_backoff_s=0.01)
    out = io.StringIO()
    result = await execute_run(settings, display=JsonLinesDisplay(out), run_id=f"fault-{fault}")
    async with Store(tmp_path / "runs" / "ramp.sqlite") as store:
        attempts = await store.attempts(f"fault-{fault}")
        calls = await store.llm_calls(f"fault-{fault}")
    assert {(a["outcome"], a["error_class"]) for a in attempts} == {("error", "infra")}
    assert {c["error_class"] for c in calls} == {"infra"} and len(calls) == len(server.calls("/v1/chat/completions"))
    metrics = result.summary.metrics if result.summary else {}
    assert metrics["scored"] == 0 and metrics["unscored"] == 2, metrics
    assert result.exit_code == 3  # infrastructure, ahead of any gate's verdict
    assert [g["rule"] for g in metrics["gates"]] == ["infra_failure_rate <= 0.2 failed (1)"]
