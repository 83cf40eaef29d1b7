"""Bring your own agent, part two: an outside agent (a real subprocess using httpx) behind Ramp's
model gateway. Its calls go through the run's accounted model to a real HTTP server on 127.0.0.1
(the stand-in for a hosted provider); its edit is the patch; the local evaluator grades it."""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path

import httpx
import pytest
import yaml

from engine.agents.command import CommandAgent, CommandConfig
from engine.core.config import load_settings
from engine.core.errors import AttemptError, ConfigError
from engine.models.base import CallContext, Completion, Message, Usage
from engine.models.gateway import Gateway
from engine.run.display import JsonLinesDisplay
from engine.run.runner import execute_run
from engine.store import Store
from tests.agenthelpers import shared_cache
from tests.fakeservers import FAST, OpenAIServer, ok

ROOT = Path(__file__).resolve().parents[1]
FIXED = (ROOT / "engine/datasets/bundled/tasks/romans/fix/romans/numerals.py").read_text()
ROMANS = "ramp-bundled__romans-1"

AGENT_SCRIPT = '''
import json, os, pathlib, httpx
base, key, model = os.environ["OPENAI_BASE_URL"], os.environ["OPENAI_API_KEY"], os.environ["OPENAI_MODEL"]
auth = {"authorization": f"Bearer {key}"}
assert httpx.get(f"{base}/models", headers={"authorization": "Bearer wrong"}).status_code == 401
listed = [m["id"] for m in httpx.get(f"{base}/models", headers=auth).json()["data"]]
problem = pathlib.Path(os.environ["RAMP_PROBLEM_FILE"]).read_text()
body = {"model": model, "messages": [{"role": "system", "content": "You fix bugs."},
                                     {"role": "user", "content": "Fix this: " + problem}], "max_tokens": 4000}
first = httpx.post(f"{base}/chat/completions", headers=auth, json=body, timeout=60).json()
text = []
with httpx.stream("POST", f"{base}/chat/completions", headers=auth, timeout=60,
                  json={**body, "stream": True, "stream_options": {"include_usage": True}}) as reply:
    for line in reply.iter_lines():
        if line.startswith("data: ") and line != "data: [DONE]":
            chunk = json.loads(line[6:])
            text += [c["delta"].get("content") or "" for c in chunk["choices"]]
pathlib.Path("romans/numerals.py").write_text(first["choices"][0]["message"]["content"])
print("models", listed, "instance", os.environ["RAMP_INSTANCE_ID"], "streamed", len("".join(text)),
      "usage", first["usage"]["prompt_tokens"] > 0)
'''


def settings_for(tmp_path: Path, server: OpenAIServer, script: Path, **command: object):
    models = tmp_path / "models.yaml"
    models.write_text(yaml.safe_dump({"models": {"fake": {
        "provider": "openai-compatible", "base_url": server.url, "name": "fake-model",
        "price": {"input": 1.0, "output": 2.0}, **FAST,
    }}}))
    return load_settings(environ={}, overrides={
        "paths.runs_dir": str(tmp_path / "runs"), "paths.cache_dir": str(shared_cache()),
        "paths.secrets_file": str(tmp_path / "credentials.txt"), "paths.models_file": str(models),
        "run.dataset": "bundled", "run.instances": [ROMANS], "run.agent": "command", "run.model": "fake",
        "run.evaluator": "local", "run.sandbox": "local", "ramp.approval": "auto",
        "agents.command.command": f"{sys.executable} {script}", **{f"agents.command.{k}": v for k, v in command.items()},
    })


@pytest.mark.slow
async def test_an_outside_agent_behind_the_gateway_is_accounted_and_its_edit_graded(tmp_path):
    script = tmp_path / "agent.py"
    script.write_text(AGENT_SCRIPT)
    with OpenAIServer() as server:
        server.script(ok(FIXED), ok("a streamed second opinion"))
        out = io.StringIO()
        result = await execute_run(settings_for(tmp_path, server, script), display=JsonLinesDisplay(out), run_id="cmd-1")
        provider_requests = server.calls("/v1/chat/completions")
    assert result.outcomes == {ROMANS: "resolved"}, out.getvalue()[-3000:]
    async with Store(tmp_path / "runs" / "ramp.sqlite") as store:
        calls = await store.llm_calls("cmd-1")
        attempt = (await store.attempts("cmd-1"))[0]
    assert len(provider_requests) == len(calls) == 2                  # every call it made, accounted
    assert {(c["instance_id"], c["attempt"]) for c in calls} == {(ROMANS, 1)}
    assert all(c["input_tokens"] > 0 and c["cost_usd"] > 0 for c in calls)
    assert attempt["calls"] == 2 and attempt["cost_usd"] == pytest.approx(sum(c["cost_usd"] for c in calls))
    sent = provider_requests[0].body
    assert sent["messages"][1]["content"].startswith("Fix this: ") and sent["max_tokens"] == 4000
    folder = tmp_path / "runs" / "cmd-1" / "attempts" / f"{ROMANS}.1"
    log = (folder / "command.log").read_text()
    assert f"models ['fake'] instance {ROMANS} streamed 25 usage True" in log
    trajectory = json.loads((folder / "trajectory.json").read_text())
    assert len(trajectory["steps"]) == 2 and trajectory["result"]["calls"] == 2
    assert "romans/numerals.py" in (folder / "patch.diff").read_text()


async def test_the_gateway_answers_failures_in_openais_shape():
    class Failing:
        model_id = "m"

        def __init__(self, error: Exception):
            self.error = error

        async def complete(self, messages, *, context=None, **sampling):
            raise self.error

        async def aclose(self):
            pass

    for error, code in ((AttemptError("rate_limit", "slow down"), 429), (AttemptError("infra", "upstream 503"), 502),
                        (AttemptError("model_format", "prompt too long"), 400)):
        async with Gateway(Failing(error), context=CallContext(), model_name="m") as gw:
            async with httpx.AsyncClient(headers={"authorization": f"Bearer {gw.key}"}) as client:
                reply = await client.post(f"{gw.base_url}/chat/completions",
                                          json={"model": "m", "messages": [{"role": "user", "content": "hi"}]})
                bad = await client.post(f"{gw.base_url}/chat/completions", json={"model": "m", "messages": "hi"})
                tools = await client.post(f"{gw.base_url}/chat/completions", json={
                    "messages": [{"role": "user", "content": "hi"}], "tools": [{"type": "function"}]})
                garbage = await client.post(f"{gw.base_url}/chat/completions", content=b"{not json")
        assert reply.status_code == code and str(error) in reply.json()["error"]["message"]
        assert bad.status_code == 400 and "messages must be a non-empty list" in bad.json()["error"]["message"]
        assert tools.status_code == 400 and "tool calling is not supported" in tools.json()["error"]["message"]
        assert garbage.status_code == 400 and "not JSON" in garbage.json()["error"]["message"]


async def test_the_gateway_passes_sampling_and_context_to_the_model():
    seen = {}

    class Recording:
        model_id = "m"

        async def complete(self, messages, *, context=None, **sampling):
            seen.update(messages=messages, context=context, sampling=sampling)
            return Completion(text="ok", usage=Usage(input_tokens=3, output_tokens=1), latency_s=0.0,
                              model_id="m", provider="p", finish_reason="length")

        async def aclose(self):
            pass

    ctx = CallContext(run_id="r", instance_id="i", attempt=2)
    async with Gateway(Recording(), context=ctx, model_name="m") as gw:
        async with httpx.AsyncClient() as client:  # the model runs on this loop: never block it
            reply = await client.post(f"{gw.base_url}/chat/completions", headers={"authorization": f"Bearer {gw.key}"},
                                      json={"messages": [{"role": "user", "content": [
                                          {"type": "text", "text": "a"}, {"type": "text", "text": "b"}]}],
                                          "max_completion_tokens": 7, "temperature": 0, "stop": "END"})
    assert reply.status_code == 200 and reply.json()["choices"][0]["finish_reason"] == "length"
    assert reply.json()["usage"] == {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4}
    assert seen["messages"] == [Message(role="user", content="ab")] and seen["context"] == ctx
    assert seen["sampling"] == {"max_tokens": 7, "temperature": 0.0, "stop": ["END"]}


def test_the_command_agent_needs_its_command():
    with pytest.raises(ConfigError, match="agents.command.command"):
        CommandAgent(CommandConfig())


@pytest.mark.slow
def test_ramp_gateway_serves_a_catalog_model_standalone_and_records_each_call(tmp_path):
    import signal
    import sqlite3

    from tests.runhelpers import ramp_popen

    models = tmp_path / "models.yaml"
    with OpenAIServer() as server:
        models.write_text(yaml.safe_dump({"models": {"fake": {
            "provider": "openai-compatible", "base_url": server.url, "name": "fake-model",
            "price": {"input": 1.0, "output": 2.0}, **FAST}}}))
        server.script(ok("from the provider"))
        proc = ramp_popen(["gateway", "--model", "fake", "--runs-dir", str(tmp_path / "runs")], cache_dir=tmp_path,
                          RAMP_PATHS__MODELS_FILE=str(models), RAMP_PATHS__SECRETS_FILE=str(tmp_path / "none.txt"))
        try:
            said = {}
            for line in proc.stdout:
                if "export " in line:
                    name, value = line.strip().removeprefix("export ").split("=", 1)
                    said[name] = value
                if len(said) == 3:
                    break
            reply = httpx.post(f"{said['OPENAI_BASE_URL']}/chat/completions", timeout=30,
                               headers={"authorization": f"Bearer {said['OPENAI_API_KEY']}"},
                               json={"model": said["OPENAI_MODEL"], "messages": [{"role": "user", "content": "hi"}]})
        finally:
            proc.send_signal(signal.SIGINT)
            _, err = proc.communicate(timeout=60)
    assert reply.status_code == 200 and reply.json()["choices"][0]["message"]["content"] == "from the provider"
    assert proc.returncode == 0 and "1 call(s)" in err, err
    conn = sqlite3.connect(tmp_path / "runs" / "ramp.sqlite")
    rows = conn.execute("SELECT run_id, model_id, input_tokens, cost_usd FROM llm_calls").fetchall()
    assert len(rows) == 1 and rows[0][0].startswith("gateway-") and rows[0][1] == "fake" and rows[0][3] > 0
